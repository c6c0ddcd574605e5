"""Pigeon's samples: per user, sliding windows of `history_len` interactions plus the next one as target,
and the seeded 8:1:1 split of users (all of a user's windows go to one split, so test users are held out)."""

from __future__ import annotations

import numpy as np

from components.common.errors import DataError

SPLITS = ("train", "valid", "test")


def user_windows(
    users: np.ndarray, items: np.ndarray, history_len: int, stride: int, max_per_user: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(window_users (W,), histories (W, history_len), targets (W,)) from interactions sorted by user then time.

    Windows start every `stride` items; when `max_per_user` > 0 only a user's most recent windows are kept.
    """
    size = history_len + 1
    out_users: list[int] = []
    out_windows: list[np.ndarray] = []
    bounds = np.flatnonzero(np.diff(users)) + 1
    for seq_users, seq in zip(np.split(users, bounds), np.split(items, bounds), strict=True):
        if len(seq) < size:
            continue
        starts = np.arange(0, len(seq) - size + 1, stride)
        if max_per_user:
            starts = starts[-max_per_user:]
        out_windows.append(seq[starts[:, None] + np.arange(size)])
        out_users.extend([int(seq_users[0])] * len(starts))
    if not out_windows:
        raise DataError("interactions", f"no user has {size} interactions; expected at least one window of {size}")
    windows = np.concatenate(out_windows).astype(np.int64)  # (W, history_len + 1)
    return np.asarray(out_users, dtype=np.int64), windows[:, :history_len], windows[:, history_len]


def split_users(window_users: np.ndarray, seed: int) -> np.ndarray:
    """(W,) split index 0/1/2 (train/valid/test) per window; users shuffled with `seed`, cut 8:1:1."""
    users = np.unique(window_users)
    order = np.random.default_rng(seed).permutation(users)
    n_test = max(1, round(0.1 * len(users))) if len(users) >= 3 else 0
    n_valid = max(1, round(0.1 * len(users))) if len(users) >= 3 else 0
    split_of = dict.fromkeys(order.tolist(), 0)
    for u in order[len(order) - n_test :]:
        split_of[int(u)] = 2
    for u in order[len(order) - n_test - n_valid : len(order) - n_test]:
        split_of[int(u)] = 1
    return np.asarray([split_of[int(u)] for u in window_users], dtype=np.int8)
