"""IoIP and DtNE of an exposure policy under the semi-simulation's ground truth (NIRec, Pan et al., arXiv
2409.08934, section 5.1):

- IoIP: mean over every target (user, item) of (p(u, i | o) - p_indiv(u, i)) / p_indiv(u, i), the relative click
  uplift over the user's own click probability sigmoid(0.25 (x_ui - 3));
- DtNE: the neighbours' loss of top-K value caused by the flips, as a percentage of their base top-K value, both
  valued with each neighbour's own ground-truth click probabilities sigmoid(0.25 (x_vj - 3)), pooled over items."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.social_steering.graph import Graph
from components.social_steering.greedy import top_k_change
from components.social_steering.policies import neighbourhood
from components.social_steering.truth import Truth, sigmoid


def own_probabilities(truth: Truth, users: np.ndarray) -> np.ndarray:
    """(len(users), n_items) sigmoid(0.25 (x_vj - 3))."""
    return sigmoid(0.25 * (truth.users[users] @ truth.items.T - 3.0))


@dataclass(frozen=True)
class ItemTruth:
    """The ground truth's terms of one target item, computed once for every exposure evaluated on it."""

    individual: np.ndarray  # (n_targets,) 0.25 (x_ui - 3)
    edge_target: np.ndarray  # (E,) local target of each edge
    edge_neighbour: np.ndarray  # (E,) local neighbour of each edge
    effect: np.ndarray  # (E,) the logit each edge adds when its neighbour is exposed
    exposed: np.ndarray  # (V,) bool, the base exposure
    change: np.ndarray  # (V,) change of each neighbour's own top-K value when flipped
    base_value: float  # sum of the neighbours' own top-K values

    @classmethod
    def of(
        cls, truth: Truth, graph: Graph, item: int, targets: np.ndarray, neighbours: np.ndarray, exposed: np.ndarray,
        top: np.ndarray, history: np.ndarray,
    ) -> ItemTruth:  # fmt: skip
        hood = neighbourhood(graph, item, targets)
        if not np.array_equal(hood.neighbours, neighbours):
            raise ValueError("the policy's neighbour set does not match the graph")
        own = own_probabilities(truth, neighbours)  # (V, n_items)
        k = top.shape[1] - 1
        return cls(
            individual=truth.individual_logit(targets, np.full(len(targets), item)),
            edge_target=hood.edge_target,
            edge_neighbour=hood.edge_neighbour,
            effect=truth.edge_effects(graph, hood.edges, np.full(len(hood.edges), item)),
            exposed=exposed,
            change=top_k_change(own, top[neighbours], item, history[neighbours, item]),
            base_value=float(np.take_along_axis(own, top[neighbours, :k], axis=1).sum()),
        )

    def outcome(self, flipped: np.ndarray) -> tuple[np.ndarray, float]:
        """(relative uplift per target, damage) of the base exposure with `flipped` (V,) bool flipped."""
        o = self.exposed ^ flipped  # (V,)
        weights = self.effect * o[self.edge_neighbour]  # (E,)
        added = np.bincount(self.edge_target, weights=weights, minlength=len(self.individual))  # (n_targets,)
        p, p_indiv = sigmoid(self.individual + added), sigmoid(self.individual)
        return (p - p_indiv) / p_indiv, float(-self.change[flipped].sum())


def item_truths(truth: Truth, graph: Graph, policies: dict, history: np.ndarray) -> list[ItemTruth]:
    """One ItemTruth per target item of the optimise step's output."""
    return [
        ItemTruth.of(
            truth, graph, int(item), policies["groups"][g], policies["neighbours"][g], policies["base_exposed"][g],
            policies["top"], history,
        )
        for g, item in enumerate(policies["items"])
    ]  # fmt: skip


def curve(items: list[ItemTruth], flips: list[np.ndarray] | None) -> list[dict[str, float]]:
    """Per lambda index: ioip, dtne (percent), flips (mean per item). `flips`: per item (n_lambdas, V) bool; None:
    the base exposure (one row)."""
    if flips is None:
        flips = [np.zeros((1, len(item.exposed)), dtype=bool) for item in items]
    value = sum(item.base_value for item in items)
    rows = []
    for step in range(flips[0].shape[0]):
        outcomes = [item.outcome(chosen[step]) for item, chosen in zip(items, flips, strict=True)]
        rows.append({
            "ioip": float(np.concatenate([uplift for uplift, _ in outcomes]).mean()),
            "dtne": 100.0 * sum(damage for _, damage in outcomes) / value,
            "flips": float(np.mean([chosen[step].sum() for chosen in flips])),
        })  # fmt: skip
    return rows
