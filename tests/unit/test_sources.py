"""Source resolution order and the verified download, against an HTTP server on 127.0.0.1 only."""

from __future__ import annotations

import functools
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import write_ml1m

from components.common.errors import DataError
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.prepare_data.sources import DATASETS, cache_root, resolve_source


def test_every_downloadable_dataset_has_a_checksum() -> None:
    for spec in DATASETS.values():
        if spec.url:
            assert spec.archive_md5 or spec.file_sha256, spec.name


def test_data_dir_is_the_folder_or_its_parent(tmp_path: Path) -> None:
    folder = write_ml1m(tmp_path / "ml-1m")
    assert resolve_source("movielens-1m", str(folder)) == folder.resolve()
    assert resolve_source("movielens-1m", str(tmp_path)) == folder.resolve()


def test_env_dir_comes_before_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = write_ml1m(cache_root() / "ml-1m")
    monkeypatch.setenv("RECFORGE_DATA_DIR", str(tmp_path / "env"))
    assert resolve_source("movielens-1m") == cached  # env dir lacks ml-1m: the cache answers
    env_copy = write_ml1m(tmp_path / "env" / "ml-1m")
    assert resolve_source("movielens-1m") == env_copy.resolve()


def test_offline_refuses_to_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECFORGE_DATA_DIR")
    with pytest.raises(DataError, match=r"dataset movielens-100k not found locally and downloads are off"):
        resolve_source("movielens-100k")


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder served over HTTP on 127.0.0.1, set as RECFORGE_DATASET_MIRROR; downloads allowed."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("RECFORGE_DATASET_MIRROR", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("RECFORGE_OFFLINE")
    monkeypatch.delenv("RECFORGE_DATA_DIR")
    yield root
    server.shutdown()


def _zip(source: Path, archive: Path, folder: str, replace: dict[str, bytes] | None = None) -> None:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(source.iterdir()):
            data = (replace or {}).get(path.name, path.read_bytes())
            zf.writestr(f"{folder}/{path.name}", data)


def test_download_verifies_real_checksums_then_prepares(mirror: Path, shared_data: Path, tmp_path: Path) -> None:
    _zip(shared_data / "ml-latest-small", mirror / "movielens" / "ml-latest-small.zip", "ml-latest-small")
    folder = resolve_source("movielens-latest-small")
    assert folder == cache_root() / "ml-latest-small"
    assert (folder / "ratings.csv").read_bytes() == (shared_data / "ml-latest-small" / "ratings.csv").read_bytes()
    stats = prepare(PrepareConfig(), tmp_path / "out")
    assert (stats["users"], stats["interactions"]) == (610, 100836)
    assert resolve_source("movielens-latest-small") == folder  # second time: from the cache


def test_tampered_file_is_rejected_and_nothing_is_cached(mirror: Path, shared_data: Path) -> None:
    source = shared_data / "ml-latest-small"
    tampered = (source / "ratings.csv").read_bytes().replace(b"1,1,4.0,964982703", b"1,1,5.0,964982703")
    _zip(source, mirror / "movielens" / "ml-latest-small.zip", "ml-latest-small", {"ratings.csv": tampered})
    with pytest.raises(DataError, match=r"ratings.csv: checksum mismatch: SHA-256 [0-9a-f]{64}, expected aa289ca8"):
        resolve_source("movielens-latest-small")
    assert list(cache_root().iterdir()) == []


def test_archive_md5_mismatch(mirror: Path, shared_data: Path) -> None:
    _zip(shared_data / "hetrec2011-lastfm-2k", mirror / "hetrec2011" / "hetrec2011-lastfm-2k.zip", "")
    with pytest.raises(
        DataError, match=r"checksum mismatch: MD5 [0-9a-f]{32}, expected 296d61afe4e8632b173fc2dd3be20ce2"
    ):
        resolve_source("lastfm-hetrec-2k")
    assert list(cache_root().iterdir()) == []


def test_download_failure_is_one_line(mirror: Path) -> None:
    with pytest.raises(
        DataError, match=r"ml-1m.zip: download failed \(File not found\); set data_dir or RECFORGE_DATA_DIR"
    ):
        resolve_source("movielens-1m")
