"""Training of one click estimator of the `social-steering` pipeline (NIRec, Pan et al., arXiv 2409.08934, or a
no-interference baseline) on the logged exposures: binary cross-entropy on clicks, Adam, the epoch with the
lowest validation log-loss kept, log-loss and AUC reported on the held-out test exposures."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from components.recsys.metrics import auc
from components.social_steering import estimators
from components.social_steering.config import EstimatorConfig
from components.social_steering.graph import Graph, expand, incoming_pairs
from components.social_steering.simulate import Logs


@dataclass(frozen=True)
class Batches:
    """Every logged exposure with the (sample, edge) pairs of its exposed neighbours, pairs grouped by sample."""

    user: torch.Tensor  # (N,)
    item: torch.Tensor  # (N,)
    click: torch.Tensor  # (N,)
    pair_offsets: np.ndarray  # (N+1,): pairs of sample n are pair_edge[pair_offsets[n]:pair_offsets[n+1]]
    pair_edge: torch.Tensor  # (P,)

    @classmethod
    def of(cls, logs: Logs, graph: Graph) -> Batches:
        sample, edge = incoming_pairs(graph, logs.user, logs.item, logs.keys, logs.n_items)  # sorted by sample
        offsets = np.concatenate([[0], np.cumsum(np.bincount(sample, minlength=len(logs.user)))])
        return cls(
            torch.as_tensor(logs.user), torch.as_tensor(logs.item), torch.as_tensor(logs.click), offsets,
            torch.as_tensor(edge),
        )  # fmt: skip

    def take(self, rows: np.ndarray) -> tuple[torch.Tensor, ...]:
        """(users, items, clicks, pair_sample, pair_edge) of the samples `rows`; pair_sample indexes rows."""
        local, pairs = expand(self.pair_offsets[rows], self.pair_offsets[rows + 1] - self.pair_offsets[rows])
        index = torch.as_tensor(rows)
        return self.user[index], self.item[index], self.click[index], torch.as_tensor(local), self.pair_edge[pairs]


@torch.no_grad()
def evaluate(model: estimators.Biased, batches: Batches, rows: np.ndarray, size: int = 8192) -> dict[str, float]:
    """Log-loss and AUC of `model` on the exposures `rows`."""
    model.eval()
    logits, labels = [], []
    for start in range(0, len(rows), size):
        users, items, clicks, pair_sample, pair_edge = batches.take(rows[start : start + size])
        logits.append(model(users, items, pair_sample, pair_edge))
        labels.append(clicks)
    logit, label = torch.cat(logits), torch.cat(labels)
    loss = F.binary_cross_entropy_with_logits(logit, label).item()
    both = 0 < label.sum().item() < len(label)
    return {"logloss": loss, "auc": auc(label.numpy(), logit.numpy()) if both else float("nan")}


@contextmanager
def deterministic() -> Iterator[None]:
    """torch's deterministic kernels inside the block (the gradient of an embedding row read by several edges
    accumulates in a thread-dependent order otherwise: two runs with one seed differed from the second epoch)."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def make_model(name: str, logs: Logs, graph: Graph, config: EstimatorConfig) -> estimators.Biased:
    """A fresh (seeded) estimator; LightGCN's graph is the training clicks."""
    torch.manual_seed(config.est_seed)
    train_rows = logs.part("train")
    clicked = train_rows[logs.click[train_rows] > 0.5]
    clicks = (torch.as_tensor(logs.user[clicked]), torch.as_tensor(logs.item[clicked]))
    return estimators.build(name, graph.n_users, logs.n_items, config.est_dim, graph, clicks, config.est_layers)


def fit(
    name: str,
    logs: Logs,
    graph: Graph,
    config: EstimatorConfig,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    batches: Batches | None = None,
) -> tuple[estimators.Biased, list[dict[str, float]]]:
    """Train `name` on the train exposures (`batches`: Batches.of(logs, graph), built when not given); returns the
    best-validation model and the per-epoch history. Deterministic: one seed, one result."""
    with deterministic():
        return _fit(name, logs, graph, config, on_epoch, batches or Batches.of(logs, graph))


def _fit(
    name: str,
    logs: Logs,
    graph: Graph,
    config: EstimatorConfig,
    on_epoch: Callable[[int, dict[str, float]], None] | None,
    batches: Batches,
) -> tuple[estimators.Biased, list[dict[str, float]]]:
    rng = np.random.default_rng(config.est_seed)
    train_rows, valid_rows = logs.part("train"), logs.part("valid")
    model = make_model(name, logs, graph, config)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.est_lr, weight_decay=config.est_weight_decay)
    best, best_state, history = float("inf"), None, []
    for epoch in range(1, config.est_epochs + 1):
        model.train()
        total, seen = 0.0, 0
        order = rng.permutation(train_rows)
        for start in range(0, len(order), config.est_batch_size):
            rows = order[start : start + config.est_batch_size]
            users, items, labels, pair_sample, pair_edge = batches.take(rows)
            loss = F.binary_cross_entropy_with_logits(model(users, items, pair_sample, pair_edge), labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total, seen = total + loss.item() * len(rows), seen + len(rows)
        valid = evaluate(model, batches, valid_rows)
        record = {"loss": total / seen, "valid_logloss": valid["logloss"], "valid_auc": valid["auc"]}
        history.append(record)
        if on_epoch is not None:
            on_epoch(epoch, record)
        if valid["logloss"] < best:
            best, best_state = valid["logloss"], {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model, history
