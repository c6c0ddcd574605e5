"""Popularity bias of a recommender: how popular its top-1 items are, and how well it serves each popularity tercile.

Popularity of an item = the share of training users who interacted with it (train split counts / users).
`avg_pop` = mean popularity of each user's top-1 recommendation. Terciles split the evaluated users into
thirds by the popularity of their target item (low, mid, high); HR@10 is reported within each third.
"""

from __future__ import annotations

import numpy as np

from components.recsys.metrics import hit_ratio_at_k


def bias_metrics(
    top1: np.ndarray, targets: np.ndarray, ranks: np.ndarray, counts: np.ndarray, n_train_users: int
) -> dict[str, float]:
    """top1, targets, ranks: (users,); counts: (n_items,) train interaction counts."""
    popularity = counts / max(n_train_users, 1)
    order = np.argsort(counts[targets], kind="stable")  # users by target popularity
    thirds = np.array_split(order, 3)
    out = {"avg_pop": float(popularity[top1].mean())}
    for name, rows in zip(("low", "mid", "high"), thirds, strict=True):
        out[f"hr_10_pop_{name}"] = hit_ratio_at_k(ranks[rows], 10) if len(rows) else 0.0
    return out
