"""The semi-simulation's ground-truth click model (NIRec, Pan et al., arXiv 2409.08934, section 5.1):

    logit(u, i | o) = 0.25 (x_ui - 3) + beta * sum_{v in N(u)} o_v * sigmoid(e*_u . e*_v) / sqrt(deg u)
                                                                * 0.25 (x_vi - 3),      x_ui = e*_u . e*_i

where o_v = 1 when neighbour v is exposed to item i. The policies' evaluation (IoIP, DtNE) uses it too."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.social_steering.graph import Graph


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


@dataclass(frozen=True)
class Truth:
    users: np.ndarray  # (n_users, d) e*_u
    items: np.ndarray  # (n_items, d) e*_i
    beta: float

    def preference(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """x_ui for paired arrays of users and items."""
        return np.einsum("nd,nd->n", self.users[users], self.items[items])

    def individual_logit(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return 0.25 * (self.preference(users, items) - 3.0)

    def edge_weights(self, graph: Graph) -> np.ndarray:
        """(E,) sigmoid(e*_u . e*_v) / sqrt(deg u) of every edge v -> u."""
        affinity = np.einsum("nd,nd->n", self.users[graph.dst], self.users[graph.src])
        return sigmoid(affinity) / np.sqrt(graph.degree[graph.dst])

    def edge_effects(self, graph: Graph, edges: np.ndarray, items: np.ndarray) -> np.ndarray:
        """(P,) the logit added to dst(edge)'s click on item when src(edge) is exposed to it."""
        weight = self.edge_weights(graph)[edges]
        return self.beta * weight * 0.25 * (self.preference(graph.src[edges], items) - 3.0)

    def click_logit(
        self, graph: Graph, users: np.ndarray, items: np.ndarray, pair_sample: np.ndarray, pair_edge: np.ndarray
    ) -> np.ndarray:
        """(S,) logits of samples (users[s], items[s]) whose exposed neighbours are the pairs (sample, edge)."""
        effect = self.edge_effects(graph, pair_edge, items[pair_sample])
        return self.individual_logit(users, items) + np.bincount(pair_sample, weights=effect, minlength=len(users))
