"""Training one model of `models.MODELS` the NFE way (Xiao et al., AAAI 2023): 1-N scoring against every entity,
binary cross-entropy with logits summed over entities with only the gold tail positive (other true tails count as
negatives), Adam with an exponential decay of the learning rate per epoch, filtered validation MRR after every
epoch and the best epoch's state kept. `loss="ce"` swaps the BCE for softmax cross-entropy over all entities (the
1-N objective of Lacroix et al. 2018), which learns in a few epochs what the BCE needs dozens for (README).

Batches hold distinct queries (head, relation), each with every training tail it has: a query with m tails costs one
score row instead of m, and its loss is m * sum_e softplus(s_e) - sum_t s_t, exactly the sum of the reference's m
per-triple losses sum_e softplus((1 - 2 y_e) s_e). WN18RR's 173,670 training rows (reciprocals included) are
103,509 queries.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from components.train_kge import ranking
from components.train_kge.config import KGEConfig
from components.train_kge.graph import SPLITS, KGraph, QueryIndex
from components.train_kge.models import KGEModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainSettings:
    dim: int = 32
    epochs: int = 2
    batch_size: int = 128
    lr: float = 5e-3
    decay: float = 0.9
    loss: str = "ce"  # ce | bce
    gamma: float | None = None  # None: the model's reference margin
    seed: int = 0
    eval_batch: int = 256

    @classmethod
    def of(cls, config: KGEConfig) -> TrainSettings:
        return cls(
            dim=config.kge_dim,
            epochs=config.kge_epochs,
            batch_size=config.kge_batch_size,
            lr=config.kge_lr,
            decay=config.kge_decay,
            loss=config.kge_loss,
            gamma=config.gamma,
            seed=config.kge_seed,
            eval_batch=config.kge_eval_batch,
        )


@dataclass
class History:
    valid_mrr: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int = 0

    @property
    def best_valid_mrr(self) -> float:
        return self.valid_mrr[self.best_epoch - 1] if self.valid_mrr else 0.0


def device() -> torch.device:
    """A GPU where there is one (the reference settings), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def known_index(graph: KGraph) -> QueryIndex:
    """Every true triple of every split, reciprocals included: the filter of filtered ranking."""
    return QueryIndex.build(np.concatenate([graph.splits[s] for s in SPLITS]), graph.n_relations)


def batch_loss(model: KGEModel, index: QueryIndex, rows: np.ndarray, loss: str = "bce") -> tuple[torch.Tensor, int]:
    """Summed 1-N loss of the queries `rows` of `index` and the number of triples it covers. Per triple (h, r, t):
    bce: sum_e softplus(s_e) - s_t (the reference's BCE with only t positive); ce: logsumexp_e s_e - s_t."""
    on = model.entity.weight.device
    queries = torch.from_numpy(index.queries[rows]).to(on)  # (B, 2)
    counts = index.counts()[rows]  # (B,)
    scores = model.score_all(queries[:, 0], queries[:, 1])  # (B, N)
    tails = np.concatenate([index.tails[index.indptr[q] : index.indptr[q + 1]] for q in rows])  # (T,)
    row_of_tail = torch.from_numpy(np.repeat(np.arange(len(rows)), counts)).to(on)  # (T,)
    spread = F.softplus(scores).sum(dim=1) if loss == "bce" else torch.logsumexp(scores, dim=1)  # (B,)
    negatives = (spread * torch.from_numpy(counts).to(on, scores.dtype)).sum()
    positives = scores[row_of_tail, torch.from_numpy(tails).to(on)].sum()
    return negatives - positives, int(counts.sum())


def train(
    name: str,
    graph: KGraph,
    settings: TrainSettings,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> tuple[KGEModel, History]:
    """Train `name` on `graph`'s train split; returns the model in its best-validation-MRR state and the history."""
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model = KGEModel(name, graph.n_entities, graph.n_relations, settings.dim, settings.gamma).to(device())
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=settings.decay)
    index = QueryIndex.build(graph.splits["train"], graph.n_relations)
    known = known_index(graph)
    history, best = History(), copy.deepcopy(model.state_dict())
    n_batches = -(-len(index.queries) // settings.batch_size)
    for epoch in range(1, settings.epochs + 1):
        started, total, covered = time.time(), 0.0, 0
        order = rng.permutation(len(index.queries))
        model.train()
        for b in range(n_batches):
            rows = order[b * settings.batch_size : (b + 1) * settings.batch_size]
            loss, n = batch_loss(model, index, rows, settings.loss)
            optimizer.zero_grad(set_to_none=True)
            (loss / n).backward()
            optimizer.step()
            total, covered = total + float(loss.detach()), covered + n
            if (b + 1) % max(1, n_batches // 5) == 0:
                log.info("%s epoch %d: batch %d/%d, loss %.4f", name, epoch, b + 1, n_batches, total / covered)
        schedule.step()
        model.eval()
        valid = validation_mrr(model, graph, known, settings.eval_batch)
        history.valid_mrr.append(valid)
        history.loss.append(total / covered)
        history.seconds.append(time.time() - started)
        if valid > history.best_valid_mrr or epoch == 1:
            history.best_epoch, best = epoch, copy.deepcopy(model.state_dict())
        log.info("%s epoch %d/%d: loss %.4f, valid MRR %.4f (%.0f s)", name, epoch, settings.epochs,
                 total / covered, valid, history.seconds[-1])  # fmt: skip
        if on_epoch:
            on_epoch(epoch, {"loss": total / covered, "valid_mrr": valid, "lr": schedule.get_last_lr()[0]})
    model.load_state_dict(best)
    return model, history


def scorer_of(model: KGEModel) -> ranking.Scorer:
    """The model's one-vs-all scorer with its tail features computed once."""
    with torch.no_grad():
        tails = model.tail_features()
    on = model.entity.weight.device
    return lambda heads, relations: model.score_all(heads.to(on), relations.to(on), tails).cpu()


def validation_mrr(model: KGEModel, graph: KGraph, known: QueryIndex, batch_size: int = 512) -> float:
    return ranking.evaluate(scorer_of(model), graph.splits["valid"], known, graph.n_relations, batch_size)["mrr"]
