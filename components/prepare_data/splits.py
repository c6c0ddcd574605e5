"""Chronological per-user sequences and the two split protocols, vectorised over sorted interaction arrays.

Every split row is (user, history = the user's items before the target oldest first, target). With the
user's interactions at sorted positions [start, end):

- leave-one-out: test target at end-1, valid target at end-2, train target at end-3;
- time (global cutoff T): with b = the user's interactions before T, test target at start+b (the first
  interaction at or after T, history = everything before T), valid target at start+b-1, train target at
  start+b-2, so train and valid never see anything at or after T.

A row needs a non-empty history; users without enough interactions are left out of that split and counted.
A train row's history plus target is the user's whole training sequence: every prefix of it is a valid
next-item training example.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.common.errors import ConfigError

SPLIT_NAMES = ("train", "valid", "test")


@dataclass
class Sequences:
    """Interactions sorted by user then time: user u owns positions [starts[u], starts[u] + counts[u])."""

    user: np.ndarray  # (n,) int32, non-decreasing
    item: np.ndarray  # (n,) int32
    rating: np.ndarray  # (n,) float32
    timestamp: np.ndarray | None  # (n,) int64, or None when the dataset has no time
    starts: np.ndarray  # (n_users,) int64
    counts: np.ndarray  # (n_users,) int64

    @classmethod
    def from_sorted(
        cls,
        user: np.ndarray,
        item: np.ndarray,
        rating: np.ndarray,
        timestamp: np.ndarray | None,
        n_users: int,
    ) -> Sequences:
        counts = np.bincount(user, minlength=n_users).astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        return cls(user, item, rating, timestamp, starts, counts)


@dataclass
class SplitRows:
    """One split before candidates: row r is user users[r] with target at position targets[r]."""

    users: np.ndarray  # (rows,) int64
    targets: np.ndarray  # (rows,) int64 positions into the sorted arrays
    left_out: int  # users with too few interactions for this split
    min_interactions: int  # interactions a user needs (leave-one-out) or needs before the cutoff (time)


def target_positions(seq: Sequences, split: str, cutoff: int | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each split: (target position per user, whether the user has a row)."""
    starts, counts = seq.starts, seq.counts
    ends = starts + counts
    if split == "leave-one-out":
        out = {}
        for back, name in ((1, "test"), (2, "valid"), (3, "train")):
            target = ends - back
            out[name] = (target, target - starts >= 1)
        return out
    assert seq.timestamp is not None and cutoff is not None
    before = (seq.timestamp < cutoff).astype(np.int64)
    b = np.add.reduceat(before, starts) if len(starts) else before[:0]
    b = np.where(counts > 0, b, 0)
    test_t = starts + b
    return {
        "test": (test_t, (b >= 1) & (b < counts)),
        "valid": (test_t - 1, b >= 2),
        "train": (test_t - 2, b >= 3),
    }


def split_rows(seq: Sequences, split: str, cutoff: int | None) -> dict[str, SplitRows]:
    needs = {
        "leave-one-out": {"test": 2, "valid": 3, "train": 4},
        "time": {"test": 1, "valid": 2, "train": 3},
    }
    rows = {}
    active = seq.counts > 0
    for name, (target, has_row) in target_positions(seq, split, cutoff).items():
        keep = has_row & active
        rows[name] = SplitRows(
            users=np.flatnonzero(keep),
            targets=target[keep],
            left_out=int((active & ~keep).sum()),
            min_interactions=needs[split][name],
        )
    return rows


def time_cutoff(timestamp: np.ndarray | None, cutoff: int, fraction: float, dataset: str) -> int:
    """The cutoff: `cutoff` when set, else the timestamp with `fraction` of interactions before it."""
    if timestamp is None:
        raise ConfigError("prepare_data.split", f"{dataset} has no timestamps; expected split=leave-one-out")
    if cutoff > 0:
        return int(cutoff)
    ordered = np.sort(timestamp)
    return int(ordered[min(int(fraction * len(ordered)), len(ordered) - 1)])


def histories(seq: Sequences, users: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Histories as Arrow-style (offsets (rows+1,) int32, values (total,) int32): items [start, target)."""
    starts = seq.starts[users]
    lengths = targets - starts  # (rows,)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    total = int(offsets[-1])
    shift = np.repeat(starts - offsets[:-1], lengths)  # (total,)
    values = seq.item[np.arange(total, dtype=np.int64) + shift]
    if total >= 2**31:
        raise ConfigError("prepare_data", f"histories hold {total} items; more than Arrow's 32-bit list offsets")
    return offsets.astype(np.int32), values.astype(np.int32)
