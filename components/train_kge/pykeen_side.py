"""PyKEEN's models beside ours in the `kg-embedding` pipeline: the same split (our entity and relation ids) through
PyKEEN's own pipeline, with its KG2E (the closest relative of NFE, Gaussian embeddings scored by KL), TransE,
DistMult and RotatE, and PyKEEN's own filtered evaluator on test.

Dimensions match ours in parameters per entity: our `dim` d gives NFE-1 2d numbers per entity, so PyKEEN's TransE
and DistMult get embedding_dim 2d, KG2E d means + d variances, RotatE d complex numbers. Training is PyKEEN's
default sLCWA loop with each model's default loss, Adam, the same exponential decay and epoch budget; the
validation MRR after each epoch (our evaluator, which tests/unit/test_kge.py checks equal to PyKEEN's) selects the
kept epoch, as for our models. PyKEEN's own pipeline evaluation runs on validation (`use_testing_data=False`): test
is seen once, by the evaluate step.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch

from components.train_kge import ranking
from components.train_kge.graph import KGraph
from components.train_kge.train import History, TrainSettings, device, known_index

log = logging.getLogger(__name__)

PREFIX = "pykeen-"
# name -> (PyKEEN's model name, its embedding_dim for our per-part d)
PYKEEN_MODELS: dict[str, tuple[str, Callable[[int], int]]] = {
    "pykeen-kg2e": ("KG2E", lambda d: d),
    "pykeen-transe": ("TransE", lambda d: 2 * d),
    "pykeen-distmult": ("DistMult", lambda d: 2 * d),
    "pykeen-rotate": ("RotatE", lambda d: d),
}
MODEL_FILE = "pykeen_model.pt"


def factory(graph: KGraph, split: str):
    """PyKEEN triples of `split` with our ids (the file's triples, no reciprocals: PyKEEN scores heads itself)."""
    from pykeen.triples import CoreTriplesFactory

    return CoreTriplesFactory.create(
        mapped_triples=torch.from_numpy(graph.forward(split)),
        num_entities=graph.n_entities,
        num_relations=len(graph.relations),
    )


def scorer_of(model, n_relations: int) -> ranking.Scorer:
    """Our one-vs-all scorer over a PyKEEN model: relation r < R scores tails of (h, r), a reciprocal r + R scores
    heads of (?, r, h)."""

    def score(heads: torch.Tensor, relations: torch.Tensor) -> torch.Tensor:
        forward = relations < n_relations  # (B,)
        out = torch.empty(len(heads), model.num_entities)
        on = model.device
        if forward.any():
            pairs = torch.stack([heads[forward], relations[forward]], 1).to(on)
            out[forward] = model.score_t(pairs).float().cpu()
        if (~forward).any():
            back = ~forward
            pairs = torch.stack([relations[back] - n_relations, heads[back]], 1).to(on)
            out[back] = model.score_h(pairs).float().cpu()
        return out  # (B, N)

    return score


def train(
    name: str,
    graph: KGraph,
    settings: TrainSettings,
    negatives: int,
    on_epoch: Callable[[int, dict], None] | None = None,
):
    """Train PyKEEN's `name` through its pipeline; returns (model in its best-validation state, History, PyKEEN's
    own validation metrics of the last epoch)."""
    from pykeen.pipeline import pipeline
    from pykeen.training.callbacks import TrainingCallback

    model_name, width = PYKEEN_MODELS[name]
    known = known_index(graph)
    history = History()

    class Validate(TrainingCallback):
        """Our validation MRR after each epoch; the best epoch's weights kept."""

        best: dict | None = None
        started = time.time()

        def post_epoch(self, epoch: int, epoch_loss: float, **kwargs) -> None:
            self.model.eval()
            scorer = scorer_of(self.model, len(graph.relations))
            valid = ranking.evaluate(scorer, graph.splits["valid"], known, graph.n_relations, settings.eval_batch)
            self.model.train()
            history.valid_mrr.append(valid["mrr"])
            history.loss.append(float(epoch_loss))
            history.seconds.append(time.time() - self.started)
            self.started = time.time()
            if epoch == 1 or valid["mrr"] > history.best_valid_mrr:
                history.best_epoch, self.best = epoch, copy.deepcopy(self.model.state_dict())
            log.info("%s epoch %d/%d: loss %.4f, valid MRR %.4f (%.0f s)", name, epoch, settings.epochs,
                     epoch_loss, valid["mrr"], history.seconds[-1])  # fmt: skip
            if on_epoch:
                lr = self.optimizer.param_groups[0]["lr"]
                on_epoch(epoch, {"loss": float(epoch_loss), "valid_mrr": valid["mrr"], "lr": lr})

    callback = Validate()
    result = pipeline(
        training=factory(graph, "train"),
        validation=factory(graph, "valid"),
        testing=factory(graph, "test"),
        use_testing_data=False,  # PyKEEN's own closing evaluation on validation: test stays unseen here
        model=model_name,
        model_kwargs={"embedding_dim": width(settings.dim)},
        training_loop="sLCWA",
        negative_sampler_kwargs={"num_negs_per_pos": negatives},
        optimizer="Adam",
        optimizer_kwargs={"lr": settings.lr},
        lr_scheduler="ExponentialLR",
        lr_scheduler_kwargs={"gamma": settings.decay},
        training_kwargs={
            "num_epochs": settings.epochs,
            "batch_size": settings.batch_size,
            "callbacks": [callback],
            "use_tqdm": False,
        },
        evaluation_kwargs={"batch_size": settings.eval_batch, "use_tqdm": False},
        random_seed=settings.seed,
        device=str(device()),
    )
    model = result.model
    pykeen_valid = pessimistic(result.metric_results)
    if callback.best is not None:
        model.load_state_dict(callback.best)
    return model, history, pykeen_valid


def pessimistic(results) -> dict[str, float]:
    """PyKEEN's metrics over both directions with ties counted against the model (our convention), plus its default
    'realistic' MRR (ties at their mean rank)."""
    get = results.get_metric
    return {
        "mrr": float(get("both.pessimistic.inverse_harmonic_mean_rank")),
        "mr": float(get("both.pessimistic.arithmetic_mean_rank")),
        **{f"hits_{k}": float(get(f"both.pessimistic.hits_at_{k}")) for k in ranking.HITS},
        "realistic_mrr": float(get("both.realistic.inverse_harmonic_mean_rank")),
    }


def evaluate_test(model, graph: KGraph, batch_size: int = 512) -> dict[str, float]:
    """PyKEEN's own filtered evaluator on test (train and valid triples filtered too), both directions."""
    from pykeen.evaluation import RankBasedEvaluator

    evaluator = RankBasedEvaluator(filtered=True)
    results = evaluator.evaluate(
        model,
        torch.from_numpy(graph.forward("test")),
        batch_size=batch_size,
        use_tqdm=False,
        additional_filter_triples=[torch.from_numpy(graph.forward("train")), torch.from_numpy(graph.forward("valid"))],
    )
    return pessimistic(results)


def save(model, folder: Path) -> None:
    torch.save(model, folder / MODEL_FILE)


def load(folder: Path):
    import pykeen  # noqa: F401  (the pickled model's classes)

    model = torch.load(folder / MODEL_FILE, weights_only=False, map_location=device())
    model.eval()
    return model
