"""The friendship graph of a prepared dataset, checked and made undirected, for the `social-steering` steps (NIRec,
Pan et al., arXiv 2409.08934: neighbours are the users whose exposure interferes with a user's click).

Edges are held both ways as a CSR-like structure: the in-neighbours of user u are src[offsets[u]:offsets[u+1]],
all edges pointing at u (dst == u), sorted by (dst, src)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from components.common.errors import DataError

SOCIAL_FILE = "social.parquet"


@dataclass(frozen=True)
class Graph:
    """An undirected graph on `n_users` users stored as directed edges src -> dst, both ways, sorted by dst."""

    n_users: int
    src: np.ndarray  # (E,) int64, the neighbour v
    dst: np.ndarray  # (E,) int64, the user u whose click v's exposure affects
    offsets: np.ndarray  # (n_users+1,) int64: edges into u are offsets[u]:offsets[u+1]

    @property
    def degree(self) -> np.ndarray:
        """(n_users,) number of friends of each user."""
        return np.diff(self.offsets)

    def neighbours(self, user: int) -> np.ndarray:
        return self.src[self.offsets[user] : self.offsets[user + 1]]

    @property
    def n_edges(self) -> int:
        return len(self.src)


def from_pairs(a: np.ndarray, b: np.ndarray, n_users: int, where: str | Path = SOCIAL_FILE) -> Graph:
    """Check friendship rows (a[r], b[r]) and build the undirected graph; duplicates and both-way listings merge.

    An id outside 0..n_users-1 or a self-loop is a DataError naming the row."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    for column, ids in (("user_id", a), ("friend_id", b)):
        bad = np.flatnonzero((ids < 0) | (ids >= n_users))
        if len(bad):
            row = int(bad[0])
            problem = f"unknown user {ids[row]}; expected a user id in 0..{n_users - 1} of users.parquet"
            raise DataError(where, problem, row=row, column=column)
    loops = np.flatnonzero(a == b)
    if len(loops):
        row = int(loops[0])
        raise DataError(where, f"self-loop (user {a[row]} befriends itself); expected two distinct users", row=row)
    src, dst = np.concatenate([a, b]), np.concatenate([b, a])
    key = np.unique(dst * n_users + src)  # sorted by dst, then src; duplicates merged
    dst, src = key // n_users, key % n_users
    offsets = np.concatenate([[0], np.cumsum(np.bincount(dst, minlength=n_users))]).astype(np.int64)
    return Graph(n_users=n_users, src=src, dst=dst, offsets=offsets)


def read(dataset_dir: str | Path, n_users: int) -> Graph:
    """The friendship graph of a prepared Dataset directory (`social.parquet`)."""
    path = Path(dataset_dir) / SOCIAL_FILE
    if not path.is_file():
        raise DataError(path, "file not found; expected a dataset with a friendship graph (lastfm-hetrec-2k)")
    table = pq.read_table(path)
    for column in ("user_id", "friend_id"):
        if column not in table.column_names:
            raise DataError(path, f"missing column '{column}'; expected user_id, friend_id")
    return from_pairs(table["user_id"].to_numpy(), table["friend_id"].to_numpy(), n_users, path)


def expand(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranges starts[r]:starts[r]+counts[r] laid end to end: (owner r, position) of every element, (sum counts,)."""
    owner = np.repeat(np.arange(len(counts)), counts)
    within = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, np.asarray(starts)[owner] + within


def incoming_pairs(
    graph: Graph, users: np.ndarray, items: np.ndarray, exposed: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """For samples s = (users[s], items[s]): the (sample, edge) pairs of edges v -> users[s] whose neighbour v was
    exposed to items[s]. `exposed` holds the sorted unique keys user * n_items + item of every exposure."""
    users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
    sample, edge = expand(graph.offsets[users], graph.degree[users])  # (P,), (P,)
    key = graph.src[edge] * n_items + items[sample]
    found = np.searchsorted(exposed, key)
    hit = (found < len(exposed)) & (exposed[np.minimum(found, len(exposed) - 1)] == key)
    return sample[hit], edge[hit]
