"""The exposure policies of the `social-steering` pipeline, for every target item and every lambda of the grid
(NIRec, Pan et al., arXiv 2409.08934, section 4.3):

- `nirec`: greedy optimisation of J on NIRec's estimated interference (greedy.py);
- `independent`: each neighbour decided alone from the base exposure, on the same estimates (the reference's
  `get_policy_baseline`);
- `mf`: no interference model; at NIRec's budget (its number of flips at that lambda), expose the item to the
  unexposed neighbours with the highest MF click probability times the number of targets they reach;
- `random`: at the same budget, random unexposed neighbours.

All start from the base recommendation: v is exposed when the item is in v's LightGCN top-K (clicked items left
out), and LightGCN's click probabilities value each neighbour's list (the penalty)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from components.social_steering import greedy
from components.social_steering.config import POLICIES
from components.social_steering.estimators import Biased, NIRec
from components.social_steering.graph import Graph, expand
from components.social_steering.simulate import Logs, Targets
from components.social_steering.truth import sigmoid


@dataclass(frozen=True)
class Neighbourhood:
    """Target item `item` and group `targets`: its candidate neighbours and the edges v -> u into the group."""

    item: int
    targets: np.ndarray  # (n_targets,) global user ids
    neighbours: np.ndarray  # (V,) global user ids, ascending
    edges: np.ndarray  # (E,) global edge ids into the targets
    edge_target: np.ndarray  # (E,) local target index
    edge_neighbour: np.ndarray  # (E,) local neighbour index


def neighbourhood(graph: Graph, item: int, targets: np.ndarray) -> Neighbourhood:
    edge_target, edges = expand(graph.offsets[targets], graph.degree[targets])  # (E,), (E,)
    neighbours, edge_neighbour = np.unique(graph.src[edges], return_inverse=True)
    return Neighbourhood(item, targets, neighbours, edges, edge_target, edge_neighbour)


def base_lists(scores: np.ndarray, history: np.ndarray, k: int) -> np.ndarray:
    """(n_users, k+1) each user's top-(k+1) items by score, best first, items of `history` (bool) left out."""
    masked = np.where(history, -np.inf, scores)
    k1 = min(k + 1, scores.shape[1])
    top = np.argpartition(-masked, k1 - 1, axis=1)[:, :k1]
    order = np.argsort(-np.take_along_axis(masked, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def clicked(logs: Logs, n_users: int) -> np.ndarray:
    """(n_users, n_items) bool: the logged clicks (every split), the history base lists leave out."""
    history = np.zeros((n_users, logs.n_items), dtype=bool)
    hit = logs.click > 0.5
    history[logs.user[hit], logs.item[hit]] = True
    return history


@torch.no_grad()
def problem_of(
    hood: Neighbourhood, nirec: NIRec, base_probs: np.ndarray, top: np.ndarray, history: np.ndarray
) -> greedy.Problem:
    """The greedy problem of one target item on NIRec's estimates: base_probs (n_users, n_items) the base
    recommender's click probabilities, top (n_users, K+1) its lists, history (n_users, n_items) clicked items."""
    item = torch.full((len(hood.edges),), hood.item, dtype=torch.long)
    reward = nirec.edge_rewards(torch.as_tensor(hood.edges), item).double().numpy()  # (E,)
    users = torch.as_tensor(hood.targets)
    individual = nirec.individual(users, torch.full_like(users, hood.item)).double().numpy()  # (n_targets,)
    v = hood.neighbours
    exposed = (top[v, :-1] == hood.item).any(axis=1)  # (V,)
    base = individual + np.bincount(
        hood.edge_target, weights=reward * exposed[hood.edge_neighbour], minlength=len(hood.targets)
    )
    change = greedy.top_k_change(base_probs[v], top[v], hood.item, history[v, hood.item])
    return greedy.Problem(base, hood.edge_target, hood.edge_neighbour, reward, exposed, change)


def optimise(
    graph: Graph, logs: Logs, targets: Targets, models: dict[str, Biased], lambdas: list[float], k: int, seed: int
) -> dict:
    """Every policy's flips for every target item and lambda: {"items": (G,), "top": (n_users, k+1), and per item
    "neighbours" (V,), "base_exposed" (V,) bool, "groups" (n_targets,), and per policy name (n_lambdas, V) bool}."""
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        base_probs = sigmoid(models["lightgcn"].scores().double().numpy())  # (n_users, n_items)
        mf_probs = sigmoid(models["mf"].scores().double().numpy())
    history = clicked(logs, graph.n_users)
    top = base_lists(base_probs, history, k)
    out: dict = {"items": targets.items, "top": top, "neighbours": [], "base_exposed": [], "groups": []}
    out.update({name: [] for name in POLICIES})
    for g, item in enumerate(targets.items):
        hood = neighbourhood(graph, int(item), targets.group(g))
        problem = problem_of(hood, models["nirec"], base_probs, top, history)
        nirec = np.stack([greedy.greedy(problem, lam) for lam in lambdas])  # (n_lambdas, V)
        reach = np.bincount(hood.edge_neighbour, minlength=len(hood.neighbours))
        mf_score = mf_probs[hood.neighbours, item] * reach
        budgets = nirec.sum(axis=1)
        out["nirec"].append(nirec)
        out["independent"].append(np.stack([greedy.independent(problem, lam) for lam in lambdas]))
        out["mf"].append(np.stack([greedy.budget_matched(mf_score, problem, int(b)) for b in budgets]))
        noise = rng.random(len(hood.neighbours))
        out["random"].append(np.stack([greedy.budget_matched(noise, problem, int(b)) for b in budgets]))
        out["neighbours"].append(hood.neighbours)
        out["base_exposed"].append(problem.base_exposed)
        out["groups"].append(hood.targets)
    return out
