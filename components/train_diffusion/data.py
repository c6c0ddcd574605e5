"""The image-data step: user windows, their split, and an image per item (rendered or loaded), in one folder.

Layout: `images.npy` (n_items, S, S, 3) uint8 (row = dense item id; items in no window stay black),
`present.npy` (n_items,) bool, `genres.npy` (n_items, n_genres) uint8 multi-hot, `windows.parquet` (user_id,
history, target, split), `meta.json` (titles, genre names, counts, image source). Written atomically.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from components.common.atomic import atomic_dir
from components.common.errors import DataError
from components.common.prepared import Prepared
from components.train_diffusion.config import ImageDataConfig
from components.train_diffusion.images import load_folder
from components.train_diffusion.posters import render_catalogue
from components.train_diffusion.windows import SPLITS, split_users, user_windows


def build_image_data(config: ImageDataConfig, dataset_dir: str, out_dir: str) -> dict:
    started = time.perf_counter()
    prepared = Prepared(dataset_dir)
    items = pq.read_table(Path(dataset_dir) / "items.parquet", columns=["source_id", "title", "genres"])
    titles = items["title"].to_pylist()
    genres = [g or [] for g in items["genres"].to_pylist()]
    users, item_ids = prepared.interactions
    w_users, histories, targets = user_windows(
        users, item_ids, config.history_len, config.window_stride, config.max_windows_per_user
    )
    split = split_users(w_users, config.split_seed)
    needed = np.unique(np.concatenate([histories.ravel(), targets]))
    if config.image_dir:
        images = load_folder(config.image_dir, items["source_id"].to_pylist(), titles, needed, config.image_size)
        source = str(Path(config.image_dir).expanduser().resolve())
    else:
        images = np.zeros((len(titles), config.image_size, config.image_size, 3), dtype=np.uint8)
        images[needed] = render_catalogue([titles[i] for i in needed], [genres[i] for i in needed], config.image_size)
        source = "rendered"
    names = sorted({g for gs in genres for g in gs if g and not g.startswith("(")})
    column = {g: j for j, g in enumerate(names)}
    multi_hot = np.zeros((len(titles), max(1, len(names))), dtype=np.uint8)
    for i, gs in enumerate(genres):
        for g in gs:
            if g in column:
                multi_hot[i, column[g]] = 1
    present = np.zeros(len(titles), dtype=bool)
    present[needed] = True
    counts = {name: int((split == k).sum()) for k, name in enumerate(SPLITS)}
    test_users = len(np.unique(w_users[split == 2]))
    meta = {
        "titles": titles,
        "genres": names,
        "image_source": source,
        "image_size": config.image_size,
        "history_len": config.history_len,
        "windows": counts,
        "users": len(np.unique(w_users)),
        "test_users": test_users,
        "images": int(present.sum()),
    }
    table = pa.table(
        {
            "user_id": pa.array(w_users, pa.int32()),
            "history": pa.array(histories.tolist(), pa.list_(pa.int32())),
            "target": pa.array(targets, pa.int32()),
            "split": pa.array(split, pa.int8()),
        }
    )
    with atomic_dir(out_dir) as tmp:
        np.save(tmp / "images.npy", images)
        np.save(tmp / "present.npy", present)
        np.save(tmp / "genres.npy", multi_hot)
        pq.write_table(table, tmp / "windows.parquet")
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    summary = {k: v for k, v in meta.items() if k not in ("titles", "genres")}
    return {**summary, "seconds": time.perf_counter() - started}


@dataclass
class Windows:
    """One split's windows: users (W,), histories (W, H), targets (W,)."""

    users: np.ndarray
    histories: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.users)

    def take(self, rows: np.ndarray) -> Windows:
        return Windows(self.users[rows], self.histories[rows], self.targets[rows])


class ImageData:
    """Reader of the image-data folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not (self.path / "meta.json").is_file():
            raise DataError(self.path / "meta.json", "file not found; expected the output of the image-data step")
        self.meta = json.loads((self.path / "meta.json").read_text(encoding="utf-8"))

    @cached_property
    def images(self) -> np.ndarray:
        return np.load(self.path / "images.npy")  # (n_items, S, S, 3) uint8

    @cached_property
    def present(self) -> np.ndarray:
        return np.load(self.path / "present.npy")

    @cached_property
    def genres(self) -> np.ndarray:
        return np.load(self.path / "genres.npy")

    @property
    def titles(self) -> list[str]:
        return self.meta["titles"]

    def split(self, name: str) -> Windows:
        table = pq.read_table(self.path / "windows.parquet")
        rows = table["split"].to_numpy() == SPLITS.index(name)
        hist = np.asarray(table["history"].to_pylist(), dtype=np.int64).reshape(len(table), -1)
        return Windows(
            table["user_id"].to_numpy().astype(np.int64)[rows],
            hist[rows],
            table["target"].to_numpy().astype(np.int64)[rows],
        )
