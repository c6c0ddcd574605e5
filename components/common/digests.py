"""Content digests of files and folders, for MLflow dataset inputs and lineage."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def digest_files(paths: Iterable[str | Path]) -> str:
    """One SHA-256 over the names and contents of `paths`, independent of their order (first 16 hex)."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()[:16]


def digest_dir(folder: str | Path) -> str:
    """Digest of every regular file directly in `folder`."""
    return digest_files(p for p in Path(folder).iterdir() if p.is_file())
