"""Where raw datasets come from: the registry of known datasets and the resolution order of DESIGN.md.

Order: the `data_dir` parameter, then `$RECFORGE_DATA_DIR/<official folder>`, then the cache
(`$RECFORGE_CACHE_DIR` or `~/.cache/recforge`), then a download from the dataset's official address,
verified by checksum (the archive's MD5 that GroupLens publishes beside it, and/or the SHA-256 of each
extracted file). `RECFORGE_DATASET_MIRROR` replaces the official base address (used by the tests with a
server on 127.0.0.1); `RECFORGE_OFFLINE=1` forbids downloads.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from components.common.digests import sha256_file
from components.common.errors import DataError

log = logging.getLogger(__name__)

OFFICIAL_BASE = "https://files.grouplens.org/datasets"


@dataclass(frozen=True)
class SourceSpec:
    """A raw dataset: its official folder name, the files a reader needs, and how to fetch it."""

    name: str
    folder: str
    files: tuple[str, ...]
    url: str | None = None
    archive_md5: str | None = None
    file_sha256: Mapping[str, str] = field(default_factory=dict)


DATASETS: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            "movielens-latest-small",
            "ml-latest-small",
            ("ratings.csv", "movies.csv"),
            f"{OFFICIAL_BASE}/movielens/ml-latest-small.zip",
            file_sha256={
                "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
                "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
                "tags.csv": "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d",
                "links.csv": "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31",
            },
        ),
        SourceSpec(
            "movielens-100k",
            "ml-100k",
            ("u.data", "u.item"),
            f"{OFFICIAL_BASE}/movielens/ml-100k.zip",
            archive_md5="0e33842e24a9c977be4e0107933c0723",
        ),
        SourceSpec(
            "movielens-1m",
            "ml-1m",
            ("ratings.dat", "movies.dat"),
            f"{OFFICIAL_BASE}/movielens/ml-1m.zip",
            archive_md5="c4d9eecfca2ab87c1945afe126590906",
        ),
        SourceSpec(
            "lastfm-hetrec-2k",
            "hetrec2011-lastfm-2k",
            ("user_artists.dat", "artists.dat", "user_friends.dat"),
            f"{OFFICIAL_BASE}/hetrec2011/hetrec2011-lastfm-2k.zip",
            archive_md5="296d61afe4e8632b173fc2dd3be20ce2",
            file_sha256={
                "artists.dat": "4c99dc28397ec559520d5bf5341f4c952c8c416c3de918548f88269b88039806",
                "user_artists.dat": "001400dc3c7d2667fca6e4ea6dc6acc31a9dd28ad5cd0f74cea988c019934d3b",
                "user_friends.dat": "9a3a8f7fa5f5ec832335e5b58ed69a4cf27c6f6f6afcde62134810eea46445a7",
                "tags.dat": "96a09fb5e61b31856e63d4251ec56c4c9ea91ab2f762465937652689b9836fc7",
            },
        ),
        # Amazon review dumps have no single official archive: the user points data_dir at a folder
        # holding one reviews file and one metadata file (JSON lines, optionally gzipped).
        SourceSpec("amazon-reviews", "amazon-reviews", ()),
    )
}


def cache_root() -> Path:
    return Path(os.environ.get("RECFORGE_CACHE_DIR") or Path.home() / ".cache" / "recforge")


def resolve_source(name: str, data_dir: str = "") -> Path:
    """Return the folder holding dataset `name`'s raw files, downloading it as a last resort."""
    spec = DATASETS[name]
    if data_dir:
        given = Path(data_dir).expanduser()
        if not given.is_dir():
            raise DataError(given, "data_dir is not an existing folder")
        for candidate in (given, given / spec.folder):
            if _complete(spec, candidate):
                return candidate.resolve()
        expected = ", ".join(spec.files) or "a reviews and a metadata JSON-lines file"
        raise DataError(given, f"no {name} files here; expected {expected} (or a '{spec.folder}' folder holding them)")
    env_dir = os.environ.get("RECFORGE_DATA_DIR")
    if env_dir:
        candidate = Path(env_dir).expanduser() / spec.folder
        if candidate.is_dir():
            _require_complete(spec, candidate)
            return candidate.resolve()
    cached = cache_root() / spec.folder
    if cached.is_dir() and _complete(spec, cached):
        return cached
    return download(spec)


def _complete(spec: SourceSpec, folder: Path) -> bool:
    if not folder.is_dir():
        return False
    if not spec.files:  # amazon: any folder with JSON-lines files
        return any(".json" in p.name for p in folder.iterdir() if p.is_file())
    return all((folder / f).is_file() for f in spec.files)


def _require_complete(spec: SourceSpec, folder: Path) -> None:
    for name in spec.files:
        if not (folder / name).is_file():
            raise DataError(folder / name, f"file not found; the {spec.name} folder needs {', '.join(spec.files)}")


def download(spec: SourceSpec, url: str | None = None) -> Path:
    """Download, verify and unpack `spec` into the cache; return the unpacked folder.

    Nothing is left in the cache unless every checksum matches.
    """
    url = url or _mirror(spec.url)
    if url is None:
        raise DataError(
            spec.folder,
            f"dataset {spec.name} not found and it has no download address; "
            "set data_dir or RECFORGE_DATA_DIR to the folder holding its files",
        )
    if os.environ.get("RECFORGE_OFFLINE", "") not in ("", "0"):
        raise DataError(
            spec.folder,
            f"dataset {spec.name} not found locally and downloads are off (RECFORGE_OFFLINE); "
            f"set data_dir or RECFORGE_DATA_DIR to a folder holding {spec.folder}/",
        )
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / spec.folder
    with tempfile.TemporaryDirectory(prefix=f".{spec.folder}.", dir=root) as tmp:
        archive = Path(tmp) / "archive.zip"
        md5 = _fetch(url, archive)
        if spec.archive_md5 and md5 != spec.archive_md5:
            raise DataError(url, f"checksum mismatch: MD5 {md5}, expected {spec.archive_md5}")
        unpacked = _unzip(archive, Path(tmp) / "unpacked", spec)
        _verify_files(spec, unpacked)
        if target.exists():
            shutil.rmtree(target)
        os.replace(unpacked, target)
    log.info("dataset %s downloaded and verified into %s", spec.name, target)
    return target


def _mirror(url: str | None) -> str | None:
    mirror = os.environ.get("RECFORGE_DATASET_MIRROR")
    if url and mirror:
        return mirror.rstrip("/") + url[len(OFFICIAL_BASE) :]
    return url


def _fetch(url: str, dest: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done, next_report = 0, 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if done >= next_report:
                    log.info("downloading %s: %.1f / %.1f MB", url, done / 1e6, total / 1e6)
                    next_report += 10 << 20
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(url, f"download failed ({reason}); set data_dir or RECFORGE_DATA_DIR instead") from None
    return digest.hexdigest()


def _unzip(archive: Path, dest: Path, spec: SourceSpec) -> Path:
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                resolved = (dest / member).resolve()
                if not resolved.is_relative_to(dest.resolve()):
                    raise DataError(archive.name, f"archive member {member!r} escapes the target folder")
            zf.extractall(dest)
    except zipfile.BadZipFile:
        raise DataError(spec.url or spec.name, "downloaded file is not a zip archive") from None
    for candidate in (dest / spec.folder, dest):
        if _complete(spec, candidate):
            return candidate
    raise DataError(spec.url or spec.name, f"archive does not hold {', '.join(spec.files)}")


def _verify_files(spec: SourceSpec, folder: Path) -> None:
    for name, expected in spec.file_sha256.items():
        path = folder / name
        if not path.is_file():
            continue
        actual = sha256_file(path)
        if actual != expected:
            raise DataError(path, f"checksum mismatch: SHA-256 {actual}, expected {expected}")
