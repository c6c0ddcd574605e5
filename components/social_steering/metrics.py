"""IoIP and DtNE of an exposure policy under the semi-simulation's ground truth (NIRec, Pan et al., arXiv
2409.08934, section 5.1):

- IoIP: mean over every target (user, item) of (p(u, i | o) - p_indiv(u, i)) / p_indiv(u, i), the relative click
  uplift over the user's own click probability sigmoid(0.25 (x_ui - 3));
- DtNE: the neighbours' loss of top-K value caused by the flips, as a percentage of their base top-K value, both
  valued with each neighbour's own ground-truth click probabilities sigmoid(0.25 (x_vj - 3)), pooled over items."""

from __future__ import annotations

import numpy as np

from components.social_steering.graph import Graph
from components.social_steering.greedy import top_k_change
from components.social_steering.policies import neighbourhood
from components.social_steering.truth import Truth, sigmoid


def own_probabilities(truth: Truth, users: np.ndarray) -> np.ndarray:
    """(len(users), n_items) sigmoid(0.25 (x_vj - 3))."""
    return sigmoid(0.25 * (truth.users[users] @ truth.items.T - 3.0))


def item_outcome(
    truth: Truth, graph: Graph, item: int, targets: np.ndarray, neighbours: np.ndarray, exposed: np.ndarray,
    flipped: np.ndarray, top: np.ndarray, history: np.ndarray,
) -> tuple[np.ndarray, float, float]:  # fmt: skip
    """(relative uplift per target, damage, base value) of exposure `exposed` XOR `flipped` over `neighbours`."""
    hood = neighbourhood(graph, item, targets)
    if not np.array_equal(hood.neighbours, neighbours):
        raise ValueError("the policy's neighbour set does not match the graph")
    o = exposed ^ flipped  # (V,)
    items = np.full(len(hood.edges), item)
    effect = truth.edge_effects(graph, hood.edges, items) * o[hood.edge_neighbour]  # (E,)
    individual = truth.individual_logit(targets, np.full(len(targets), item))
    p = sigmoid(individual + np.bincount(hood.edge_target, weights=effect, minlength=len(targets)))
    p_indiv = sigmoid(individual)
    own = own_probabilities(truth, neighbours)  # (V, n_items)
    k = top.shape[1] - 1
    change = top_k_change(own, top[neighbours], item, history[neighbours, item])
    base_value = float(np.take_along_axis(own, top[neighbours, :k], axis=1).sum())
    return (p - p_indiv) / p_indiv, float(-change[flipped].sum()), base_value


def curve(
    truth: Truth, graph: Graph, policies: dict, policy: str | None, history: np.ndarray
) -> list[dict[str, float]]:
    """Per lambda index: ioip, dtne (percent), flips (mean per item); `policy` None: the base exposure (one row)."""
    n_lambdas = policies[policy][0].shape[0] if policy else 1
    rows = []
    for step in range(n_lambdas):
        uplifts, damage, value, flips = [], 0.0, 0.0, 0
        for g, item in enumerate(policies["items"]):
            none = np.zeros(len(policies["neighbours"][g]), dtype=bool)
            flipped = policies[policy][g][step] if policy else none
            uplift, d, v = item_outcome(
                truth, graph, int(item), policies["groups"][g], policies["neighbours"][g], policies["base_exposed"][g],
                flipped, policies["top"], history,
            )  # fmt: skip
            uplifts.append(uplift)
            damage, value, flips = damage + d, value + v, flips + int(flipped.sum())
        rows.append({
            "ioip": float(np.concatenate(uplifts).mean()), "dtne": 100.0 * damage / value,
            "flips": flips / len(policies["items"]),
        })  # fmt: skip
    return rows
