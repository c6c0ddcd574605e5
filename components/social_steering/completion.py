"""Ground-truth embeddings of the semi-simulation (NIRec, Pan et al., arXiv 2409.08934, section 5.1): a full matrix
factorisation of the real user-item matrix, whose dot products e*_u . e*_i play the role of complete ratings.

Weight transform (Last.fm has listening counts, not ratings): within each user, items are ranked by log listening
count (ties share their mean rank) and mapped linearly onto the paper's 1..5 rating scale, rating = 1 + 4 *
(rank - 0.5) / n_u. The factorisation is alternating least squares on the observed ratings with a ridge penalty."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.common.errors import DataError


@dataclass(frozen=True)
class Completion:
    users: np.ndarray  # (n_users, d) float64, e*_u
    items: np.ndarray  # (n_items, d) float64, e*_i
    rmse: float  # on the observed ratings


def top_items(items: np.ndarray, n_items: int, keep: int) -> np.ndarray:
    """The `keep` items with the most distinct users (ties: lower id first), ascending ids."""
    counts = np.bincount(items, minlength=n_items)
    order = np.lexsort((np.arange(n_items), -counts))
    return np.sort(order[: min(keep, n_items)])


def ratings_of(users: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(n,) ratings in (1, 5): the within-user mid-rank of log(1 + count), mapped linearly."""
    value = np.log1p(counts.astype(np.float64))
    order = np.lexsort((value, users))
    u, v = users[order], value[order]
    new_user = np.concatenate([[True], u[1:] != u[:-1]])
    start = np.maximum.accumulate(np.where(new_user, np.arange(len(u)), 0))
    rank = np.arange(len(u)) - start + 1.0  # 1-based position within the user
    new_tie = new_user | np.concatenate([[True], v[1:] != v[:-1]])
    tie = np.cumsum(new_tie) - 1
    mid = (np.bincount(tie, weights=rank) / np.bincount(tie))[tie]  # ties share their mean rank
    size = np.bincount(np.cumsum(new_user) - 1)[np.cumsum(new_user) - 1]
    out = np.empty(len(u))
    out[order] = 1.0 + 4.0 * (mid - 0.5) / size
    return out


def complete(
    users: np.ndarray, items: np.ndarray, ratings: np.ndarray, n_users: int, n_items: int, dim: int, iterations: int,
    reg: float, seed: int,
) -> Completion:  # fmt: skip
    """Alternating least squares on the observed (user, item, rating) triples."""
    if len(users) == 0:
        raise DataError("interactions.parquet", "no interaction with a simulation item; expected a non-empty matrix")
    rng = np.random.default_rng(seed)
    p = rng.normal(0.0, 0.1, (n_users, dim))
    q = rng.normal(0.0, 0.1, (n_items, dim))
    for _ in range(iterations):
        p = _solve(users, items, ratings, q, n_users, reg)
        q = _solve(items, users, ratings, p, n_items, reg)
    rmse = float(np.sqrt(np.mean((np.einsum("nd,nd->n", p[users], q[items]) - ratings) ** 2)))
    return Completion(users=p, items=q, rmse=rmse)


def _solve(rows: np.ndarray, cols: np.ndarray, values: np.ndarray, fixed: np.ndarray, n: int, reg: float) -> np.ndarray:
    """Each row's ridge solution against the fixed factors of its observed columns."""
    dim = fixed.shape[1]
    f = fixed[cols]  # (obs, d)
    gram = np.zeros((n, dim, dim))
    np.add.at(gram, rows, f[:, :, None] * f[:, None, :])
    rhs = np.zeros((n, dim))
    np.add.at(rhs, rows, f * values[:, None])
    gram += reg * np.eye(dim)
    return np.linalg.solve(gram, rhs[:, :, None])[:, :, 0]
