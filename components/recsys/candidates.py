"""Candidate sets: each split row's target plus N negatives drawn uniformly from items the user never
interacted with, seeded, without duplicates, in a seeded random order.

Rejection sampling over whole matrices: draw more than N items per row, reject those the user has seen
(binary search in the sorted user*n_items+item keys) and repeats within the row, keep the first N survivors.
Feasibility is checked first (a user with fewer unseen items than N is an error before anything is drawn);
rows are drawn in chunks so memory stays proportional to the output; users who have seen most of the
catalogue, and rows still short after a few rounds, are sampled exactly from their complement.
"""

from __future__ import annotations

import numpy as np

from components.common.errors import DataError


def seen_keys(user: np.ndarray, item: np.ndarray, n_items: int) -> np.ndarray:
    """Sorted unique user*n_items+item keys of every interaction."""
    keys = np.sort(user.astype(np.int64) * n_items + item.astype(np.int64))
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])]


MAX_DRAWS = 1 << 21  # int64 draws held at once per round (16 MiB); rows are sampled in chunks below it


def unseen_counts(row_users: np.ndarray, seen: np.ndarray, n_items: int) -> np.ndarray:
    """(rows,) int64: how many items each row's user never interacted with; `seen` from `seen_keys`."""
    users = row_users.astype(np.int64)
    lo = np.searchsorted(seen, users * n_items)
    hi = np.searchsorted(seen, (users + 1) * n_items)
    return n_items - (hi - lo)


def sample_negatives(
    row_users: np.ndarray, seen: np.ndarray, n_items: int, num: int, rng: np.random.Generator
) -> np.ndarray:
    """(rows, num) int32 negatives per row; `seen` from `seen_keys`.

    Feasibility is checked before anything is drawn (every row's user must have `num` unseen items), and memory
    stays proportional to the output: rows are drawn in chunks of at most MAX_DRAWS draws, and rows whose users
    leave fewer than 2*num unseen items (where rejection would mostly reject) are sampled exactly."""
    if len(row_users) == 0:
        return np.empty((0, num), dtype=np.int32)
    unseen = unseen_counts(row_users, seen, n_items)  # (rows,)
    worst = int(np.argmin(unseen))
    if unseen[worst] < num:
        raise DataError(
            "candidates",
            f"user {int(row_users[worst])} has interacted with all but {int(unseen[worst])} of {n_items} items; "
            f"expected at least num_negatives={num} unseen items (at most {int(unseen.min())} fit this data)",
        )
    out = np.empty((len(row_users), num), dtype=np.int32)
    exact = unseen < 2 * num
    todo = np.flatnonzero(~exact)
    width = num + max(8, num // 2)
    for _ in range(6):
        if len(todo) == 0:
            break
        chunk = max(1, MAX_DRAWS // width)
        short = [
            _reject(todo[i : i + chunk], row_users, seen, n_items, num, width, rng, out)
            for i in range(0, len(todo), chunk)
        ]
        todo = np.concatenate(short)
        width *= 2
    for r in np.concatenate([todo, np.flatnonzero(exact)]):
        user = int(row_users[r])
        lo, hi = np.searchsorted(seen, [user * n_items, (user + 1) * n_items])
        allowed = np.setdiff1d(np.arange(n_items), seen[lo:hi] - user * n_items)
        out[r] = rng.choice(allowed, size=num, replace=False)
    return out


def _reject(
    todo: np.ndarray,
    row_users: np.ndarray,
    seen: np.ndarray,
    n_items: int,
    num: int,
    width: int,
    rng: np.random.Generator,
    out: np.ndarray,
) -> np.ndarray:
    """One round of rejection sampling for rows `todo`: fills `out` for the rows that got `num` distinct unseen
    items among `width` draws and returns the rows still short."""
    draws = rng.integers(0, n_items, size=(len(todo), width), dtype=np.int64)  # (todo, width)
    keys = row_users[todo, None].astype(np.int64) * n_items + draws
    pos = np.minimum(np.searchsorted(seen, keys), len(seen) - 1)
    ok = seen[pos] != keys
    order = np.argsort(draws, axis=1, kind="stable")
    sorted_draws = np.take_along_axis(draws, order, axis=1)
    repeat_sorted = np.zeros_like(ok)
    repeat_sorted[:, 1:] = sorted_draws[:, 1:] == sorted_draws[:, :-1]
    repeat = np.empty_like(ok)
    np.put_along_axis(repeat, order, repeat_sorted, axis=1)
    ok &= ~repeat
    taken = np.cumsum(ok, axis=1)
    full = taken[:, -1] >= num
    pick = ok & (taken <= num)
    out[todo[full]] = draws[full][pick[full]].reshape(-1, num)
    return todo[~full]


def candidate_sets(
    targets: np.ndarray,
    row_users: np.ndarray,
    seen: np.ndarray,
    n_items: int,
    num: int,
    seed: int,
    stream: int,
) -> np.ndarray:
    """(rows, num+1) int32: target and negatives in a seeded random order per row."""
    rng = np.random.default_rng([seed, stream])
    negatives = sample_negatives(row_users, seen, n_items, num, rng)
    full = np.concatenate([targets[:, None].astype(np.int32), negatives], axis=1)  # (rows, num+1)
    order = np.argsort(rng.random(full.shape), axis=1)
    return np.take_along_axis(full, order, axis=1)
