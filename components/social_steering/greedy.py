"""Exposure optimisation for one target item (NIRec, Pan et al., arXiv 2409.08934, section 4.3, reference
`get_policy` / `get_policy_baseline`), on the estimator's linear interference terms:

    J(o) = sum_{u in G} sigmoid(r_u(o)) + lambda * sum_{v flipped} change_v,
    r_u(o) = r_u(o0) + sum_v (o_v - o0_v) c_uv

where o0 is the base recommendation's exposure, c_uv the estimated logit that exposing the item to v adds to target u,
and change_v <= 0 the change of v's own top-K value when v's exposure is flipped (see `top_k_change`). Greedy flips,
one neighbour at a time, the flip of largest gain, each neighbour at most once, and stops when no flip gains."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.social_steering.truth import sigmoid


@dataclass(frozen=True)
class Problem:
    """One target item: targets 0..n_targets-1, candidate neighbours 0..n_neighbours-1, edges v -> u, each
    (target, neighbour) pair at most once (as in a friendship graph), which the per-edge gains rely on."""

    base_logit: np.ndarray  # (n_targets,) r_u(o0)
    edge_target: np.ndarray  # (E,) u of each edge
    edge_neighbour: np.ndarray  # (E,) v of each edge
    reward: np.ndarray  # (E,) c_uv
    base_exposed: np.ndarray  # (n_neighbours,) bool o0
    change: np.ndarray  # (n_neighbours,) change of v's top-K value when v is flipped (<= 0 for a sane base)

    @property
    def n_neighbours(self) -> int:
        return len(self.base_exposed)

    @property
    def sign(self) -> np.ndarray:
        """(n_neighbours,) +1 where a flip inserts the item, -1 where it removes it."""
        return np.where(self.base_exposed, -1.0, 1.0)

    def objective(self, flipped: np.ndarray, lam: float) -> float:
        """J of the exposure o0 with `flipped` (bool, (n_neighbours,)) flipped, computed from scratch."""
        moved = flipped[self.edge_neighbour] * self.sign[self.edge_neighbour] * self.reward  # (E,)
        logit = self.base_logit + np.bincount(self.edge_target, weights=moved, minlength=len(self.base_logit))
        return float(sigmoid(logit).sum() + lam * self.change[flipped].sum())


def top_k_change(scores: np.ndarray, top: np.ndarray, item: int, history: np.ndarray) -> np.ndarray:
    """(V,) change of each neighbour's top-K value when its exposure to `item` is flipped, from its scores
    (V, n_items) and its base top-(K+1) list (V, K+1): inserting replaces the K-th item (p_vi - p_vK, or -p_vK
    for an item v has already clicked, `history` (V,) bool); removing lets the (K+1)-th in (p_v,K+1 - p_vi)."""
    rows = np.arange(len(top))
    k = top.shape[1] - 1
    p_item, p_k, p_next = scores[:, item], scores[rows, top[:, k - 1]], scores[rows, top[:, k]]
    exposed = (top[:, :k] == item).any(axis=1)
    insert = np.where(history, -p_k, p_item - p_k)
    return np.where(exposed, p_next - p_item, insert)


def flip_gains(problem: Problem, logit: np.ndarray, lam: float) -> np.ndarray:
    """(n_neighbours,) gain of J from flipping each neighbour alone, at the current target logits, vectorised."""
    sign = problem.sign[problem.edge_neighbour]
    current = logit[problem.edge_target]
    delta = sigmoid(current + sign * problem.reward) - sigmoid(current)  # (E,)
    return np.bincount(problem.edge_neighbour, weights=delta, minlength=problem.n_neighbours) + lam * problem.change


def greedy(problem: Problem, lam: float) -> np.ndarray:
    """(n_neighbours,) bool: the neighbours whose exposure greedy flips (vectorised gains, incremental logits)."""
    flipped = np.zeros(problem.n_neighbours, dtype=bool)
    logit = problem.base_logit.astype(np.float64).copy()
    by_neighbour = np.argsort(problem.edge_neighbour, kind="stable")
    bounds = np.searchsorted(problem.edge_neighbour[by_neighbour], np.arange(problem.n_neighbours + 1))
    sign = problem.sign
    while True:
        gains = flip_gains(problem, logit, lam)
        gains[flipped] = -np.inf
        best = int(np.argmax(gains)) if len(gains) else 0
        if not len(gains) or gains[best] <= 0:
            return flipped
        flipped[best] = True
        edges = by_neighbour[bounds[best] : bounds[best + 1]]
        np.add.at(logit, problem.edge_target[edges], sign[best] * problem.reward[edges])


def greedy_recomputed(problem: Problem, lam: float) -> np.ndarray:
    """The same greedy search, each candidate flip's gain from a fresh evaluation of J (the obvious alternative)."""
    flipped = np.zeros(problem.n_neighbours, dtype=bool)
    current = problem.objective(flipped, lam)
    while True:
        best, best_value = -1, current
        for v in np.flatnonzero(~flipped):
            flipped[v] = True
            value = problem.objective(flipped, lam)
            flipped[v] = False
            if value > best_value:
                best, best_value = int(v), value
        if best < 0:
            return flipped
        flipped[best], current = True, best_value


def independent(problem: Problem, lam: float) -> np.ndarray:
    """(n_neighbours,) bool: each neighbour flipped alone when its own flip gains from o0 (`get_policy_baseline`)."""
    return flip_gains(problem, problem.base_logit.astype(np.float64), lam) > 0


def budget_matched(score: np.ndarray, problem: Problem, budget: int) -> np.ndarray:
    """(n_neighbours,) bool: insert the item for the `budget` unexposed neighbours of highest `score`."""
    candidates = np.flatnonzero(~problem.base_exposed)
    chosen = candidates[np.argsort(-score[candidates], kind="stable")[:budget]]
    flipped = np.zeros(problem.n_neighbours, dtype=bool)
    flipped[chosen] = True
    return flipped
