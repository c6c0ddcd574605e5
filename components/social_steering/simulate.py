"""The semi-simulation of NIRec (Pan et al., arXiv 2409.08934, section 5.1) on a real user-item matrix and friendship
graph: ground-truth embeddings by completion, logged exposures from uniform, preference-driven and neighbour-driven
sources, clicks drawn from the ground-truth click model with interference, and the target (user, item) groups.
Seeded: the same inputs and settings give the same simulation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.common.errors import DataError
from components.social_steering.config import SimulationConfig
from components.social_steering.graph import Graph, incoming_pairs
from components.social_steering.truth import Truth, sigmoid

SPLITS = ("train", "valid", "test")
LIKES = 1.0  # x - 3 >= LIKES: the user likes the item; x - 3 < LIKES: the user's own preference is low


@dataclass(frozen=True)
class Logs:
    """Logged exposures: user[n] saw item[n] and clicked (1) or not; split[n] indexes SPLITS (80/10/10)."""

    user: np.ndarray  # (N,) int64
    item: np.ndarray  # (N,) int64
    click: np.ndarray  # (N,) float32
    split: np.ndarray  # (N,) int8
    n_items: int

    @property
    def keys(self) -> np.ndarray:
        """Sorted unique exposure keys user * n_items + item (the exposure o of every item)."""
        return np.unique(self.user * self.n_items + self.item)

    def part(self, name: str) -> np.ndarray:
        return np.flatnonzero(self.split == SPLITS.index(name))


@dataclass(frozen=True)
class Targets:
    """Target item items[g] and its group of target users users[offsets[g]:offsets[g+1]]."""

    items: np.ndarray  # (G,) int64
    offsets: np.ndarray  # (G+1,) int64
    users: np.ndarray  # (sum of group sizes,) int64

    def group(self, g: int) -> np.ndarray:
        return self.users[self.offsets[g] : self.offsets[g + 1]]


def exposures(truth: Truth, graph: Graph, config: SimulationConfig, rng: np.random.Generator) -> np.ndarray:
    """Sorted unique keys user * n_items + item of the logged exposures: per user, sim_exposures draws split
    uniform / preference (Gumbel top-k on x_ui: without replacement, proportional to exp x_ui) / neighbour
    (an item of a random friend's uniform or preference draws; uniform for users without friends)."""
    n_users, n_items = len(truth.users), len(truth.items)
    n_uniform = round(config.sim_exposures * config.sim_uniform)
    n_pref = min(round(config.sim_exposures * config.sim_preference), n_items)
    n_neigh = config.sim_exposures - n_uniform - n_pref
    uniform = rng.integers(0, n_items, (n_users, n_uniform))
    x = truth.users @ truth.items.T  # (n_users, n_items)
    noisy = x + rng.gumbel(size=x.shape)
    preferred = np.argpartition(-noisy, n_pref - 1, axis=1)[:, :n_pref] if n_pref else np.zeros((n_users, 0), int)
    first = np.concatenate([uniform, preferred], axis=1)  # (n_users, n_uniform + n_pref)
    degree = graph.degree
    pick = (rng.random((n_users, n_neigh)) * np.maximum(degree, 1)[:, None]).astype(np.int64)
    friend = graph.src[np.minimum(graph.offsets[:-1, None] + pick, max(graph.n_edges - 1, 0))] if graph.n_edges else 0
    copied = first[friend, rng.integers(0, first.shape[1], (n_users, n_neigh))] if first.shape[1] else None
    fallback = rng.integers(0, n_items, (n_users, n_neigh))
    neighbour = np.where(degree[:, None] > 0, copied, fallback) if copied is not None else fallback
    every = np.concatenate([first, neighbour], axis=1)
    return np.unique(np.arange(n_users)[:, None] * n_items + every)


def draw_logs(truth: Truth, graph: Graph, config: SimulationConfig, rng: np.random.Generator) -> Logs:
    """Exposures, then one click per exposure from the ground-truth model given who else saw the item."""
    n_items = len(truth.items)
    keys = exposures(truth, graph, config, rng)
    user, item = keys // n_items, keys % n_items
    pair_sample, pair_edge = incoming_pairs(graph, user, item, keys, n_items)
    p = sigmoid(truth.click_logit(graph, user, item, pair_sample, pair_edge))
    click = (rng.random(len(p)) < p).astype(np.float32)
    split = np.zeros(len(keys), dtype=np.int8)
    order = rng.permutation(len(keys))
    split[order[int(0.8 * len(keys)) : int(0.9 * len(keys))]] = 1
    split[order[int(0.9 * len(keys)) :]] = 2
    return Logs(user=user, item=item, click=click, split=split, n_items=n_items)


def choose_targets(truth: Truth, graph: Graph, config: SimulationConfig, rng: np.random.Generator) -> Targets:
    """Target items and groups: a target user's own preference is low (x_ui - 3 < 1) and at least one friend likes
    the item (x_vi - 3 >= 1). Items with a full group are drawn first; users without friends never qualify."""
    n_users = len(truth.users)
    margin = truth.users @ truth.items.T - 3.0  # (n_users, n_items)
    adjacency = np.zeros((n_users, n_users), dtype=np.float32)
    adjacency[graph.dst, graph.src] = 1.0
    liked_by_friend = adjacency @ (margin >= LIKES).astype(np.float32) > 0  # (n_users, n_items)
    qualifies = (margin < LIKES) & liked_by_friend
    counts = qualifies.sum(axis=0)
    if counts.max(initial=0) == 0:
        raise DataError(
            "social.parquet",
            "no (user, item) pair qualifies as a target: no user has a friend who likes an item the user does not;"
            " expected a friendship graph linking users of the simulation",
        )
    full = np.flatnonzero(counts >= config.sim_group_size)
    if len(full) >= config.sim_target_items:
        items = np.sort(rng.choice(full, config.sim_target_items, replace=False))
    else:  # too few full groups: the items with the most qualifying users
        items = np.sort(np.argsort(-counts, kind="stable")[: min(config.sim_target_items, int((counts > 0).sum()))])
    groups = []
    for item in items:
        pool = np.flatnonzero(qualifies[:, item])
        groups.append(np.sort(rng.choice(pool, min(config.sim_group_size, len(pool)), replace=False)))
    offsets = np.concatenate([[0], np.cumsum([len(g) for g in groups])]).astype(np.int64)
    return Targets(items=items.astype(np.int64), offsets=offsets, users=np.concatenate(groups).astype(np.int64))
