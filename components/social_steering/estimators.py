"""Click estimators of the `social-steering` pipeline, trained on logged exposures:

- NIRec (Pan et al., arXiv 2409.08934, reference `gatv2_spill_var2`): GATv2-style edge scores normalised by the
  softmax with an extra zero logit, an interference representation g_ui = W_t sum_v a_vu o_v (e_v * e_i), and
  r(u, i | o) = sum(e_u * e_i) + sum(g_ui), no bias (as the reference: the dot product carries the offset the
  interference term needs, so a neighbour who dislikes the item can lower the click);
- the no-interference baselines MF (Koren et al. 2009) and LightGCN (He et al., SIGIR 2020).

Every model maps a batch of exposures, with the (sample, edge) pairs of their exposed neighbours, to click logits.
NIRec's logit is linear in the exposure o: `edge_rewards` gives each edge's term for an item (the policies' input)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from components.social_steering.graph import Graph


def softmax_one(scores: torch.Tensor, groups: torch.Tensor, slots: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Softmax within each group with an implicit extra zero logit: exp(s_e) / (1 + sum_{e' in group} exp(s_e')).

    scores, groups, slots: (E,), slots[e] the position of e within its group; returns (E,). Weights of a group sum
    to < 1, so a user whose neighbours all score low receives almost no interference. Computed on a padded
    (n_groups, 1 + largest group) table whose first column is the zero logit."""
    width = int(slots.max().item()) + 2 if len(slots) else 1
    table = scores.new_full((n_groups, width), float("-inf"))
    table[:, 0] = 0.0  # the extra zero logit
    table = table.index_put((groups, slots + 1), scores)
    return torch.softmax(table, dim=1)[groups, slots + 1]


class Biased(nn.Module):
    """The individual term shared by every estimator: e_u . e_i, plus b + b_u + b_i where `biases` (MF)."""

    def __init__(self, n_users: int, n_items: int, dim: int, biases: bool = False) -> None:
        super().__init__()
        self.biases = biases
        self.user = nn.Embedding(n_users, dim)
        self.item = nn.Embedding(n_items, dim)
        self.user_bias = nn.Embedding(n_users, 1)
        self.item_bias = nn.Embedding(n_items, 1)
        self.bias = nn.Parameter(torch.zeros(1))
        for table in (self.user, self.item):
            nn.init.normal_(table.weight, std=0.1)
        for table in (self.user_bias, self.item_bias):
            nn.init.zeros_(table.weight)

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(n_users, d), (n_items, d) the embeddings the dot product uses."""
        return self.user.weight, self.item.weight

    def individual(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(B,) logits without any neighbour term."""
        eu, ei = self.embeddings()
        dot = (eu[users] * ei[items]).sum(-1)  # (B,)
        if not self.biases:
            return dot
        return self.bias + self.user_bias(users)[:, 0] + self.item_bias(items)[:, 0] + dot

    def forward(
        self, users: torch.Tensor, items: torch.Tensor, pair_sample: torch.Tensor, pair_edge: torch.Tensor
    ) -> torch.Tensor:
        return self.individual(users, items)

    def scores(self) -> torch.Tensor:
        """(n_users, n_items) individual logits of every pair."""
        eu, ei = self.embeddings()
        if not self.biases:
            return eu @ ei.T
        return self.bias + self.user_bias.weight + self.item_bias.weight[:, 0] + eu @ ei.T


class MF(Biased):
    """Matrix factorisation with global, user and item biases (its strongest usual form)."""

    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__(n_users, n_items, dim, biases=True)


class LightGCN(Biased):
    """LightGCN: embeddings averaged over `layers` rounds of symmetric-normalised propagation on the user-item
    graph of training clicks, with MF's biases, trained on the same clicks and loss as every estimator."""

    def __init__(self, n_users: int, n_items: int, dim: int, clicks: tuple[torch.Tensor, torch.Tensor], layers: int):
        super().__init__(n_users, n_items, dim, biases=True)  # without biases it stays at log-loss log 2 here
        self.n_users, self.layers = n_users, layers
        users, items = clicks
        rows = torch.cat([users, items + n_users])
        cols = torch.cat([items + n_users, users])
        n = n_users + n_items
        degree = torch.bincount(rows, minlength=n).clamp(min=1).float()
        values = degree[rows].rsqrt() * degree[cols].rsqrt()
        self.register_buffer(
            "adjacency",
            torch.sparse_coo_tensor(torch.stack([rows, cols]), values, (n, n), check_invariants=True).coalesce(),
        )

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        layer = torch.cat([self.user.weight, self.item.weight])  # (n_users + n_items, d)
        total = layer
        for _ in range(self.layers):
            layer = torch.sparse.mm(self.adjacency, layer)
            total = total + layer
        mean = total / (self.layers + 1)
        return mean[: self.n_users], mean[self.n_users :]


class NIRec(Biased):
    """NIRec's interference model: individual term plus sum(W_t sum_v a_vu o_v (e_v * e_i)), with a_vu from
    GATv2-style scores w^T LeakyReLU(W [e_v ; e_u]) normalised by `softmax_one` over the friends v of u."""

    def __init__(self, n_users: int, n_items: int, dim: int, graph: Graph) -> None:
        super().__init__(n_users, n_items, dim)
        self.n_users = n_users
        self.register_buffer("src", torch.as_tensor(graph.src, dtype=torch.long))
        self.register_buffer("dst", torch.as_tensor(graph.dst, dtype=torch.long))
        slots = np.arange(graph.n_edges) - graph.offsets[graph.dst]  # position of each edge among u's in-edges
        self.register_buffer("slots", torch.as_tensor(slots, dtype=torch.long))
        self.attend = nn.Linear(2 * dim, dim, bias=False)  # W
        self.score = nn.Linear(dim, 1, bias=False)  # w
        self.transform = nn.Linear(dim, dim, bias=False)  # W_t

    def attention(self) -> torch.Tensor:
        """(E,) a_vu of every edge v -> u."""
        eu = self.user.weight
        pair = torch.cat([eu[self.src], eu[self.dst]], dim=-1)  # (E, 2d)
        scores = self.score(F.leaky_relu(self.attend(pair), 0.2))[:, 0]  # (E,)
        return softmax_one(scores, self.dst, self.slots, self.n_users)

    def forward(
        self, users: torch.Tensor, items: torch.Tensor, pair_sample: torch.Tensor, pair_edge: torch.Tensor
    ) -> torch.Tensor:
        a = self.attention()
        neighbours = a[pair_edge, None] * self.user.weight[self.src[pair_edge]]  # (P, d)
        pooled = torch.zeros(len(users), neighbours.shape[1], dtype=neighbours.dtype).index_add(
            0, pair_sample, neighbours
        )  # (B, d)
        interference = self.transform(pooled * self.item(items)).sum(-1)  # (B,)
        return self.individual(users, items) + interference

    def edge_rewards(self, edges: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """(P,) the logit that exposing items[p] to src(edges[p]) adds to dst(edges[p])'s click on it."""
        a = self.attention()[edges]
        return self.transform(a[:, None] * self.user.weight[self.src[edges]] * self.item(items)).sum(-1)


def build(name: str, n_users: int, n_items: int, dim: int, graph: Graph, clicks, layers: int) -> Biased:
    if name == "nirec":
        return NIRec(n_users, n_items, dim, graph)
    if name == "lightgcn":
        return LightGCN(n_users, n_items, dim, clicks, layers)
    return MF(n_users, n_items, dim)
