"""The popularity ranker: score = how many training users interacted with the item.

Counts come from the train split only (each row's history and target), so valid and test targets never leak.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from components.common.atomic import atomic_dir
from components.common.prepared import Prepared


def train_popularity(data: Prepared) -> np.ndarray:
    """(n_items,) int64 interaction counts over the train split."""
    train = data.split("train")
    items = np.concatenate([train.values, train.targets])
    return np.bincount(items, minlength=data.n_items).astype(np.int64)


def save_popularity(counts: np.ndarray, out_dir: str | Path) -> None:
    with atomic_dir(out_dir) as tmp:
        np.save(tmp / "popularity.npy", counts)
        (tmp / "model.json").write_text(json.dumps({"kind": "popularity", "n_items": len(counts)}))


def load_popularity(model_dir: str | Path) -> np.ndarray:
    return np.load(Path(model_dir) / "popularity.npy")
