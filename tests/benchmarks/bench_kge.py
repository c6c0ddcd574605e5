"""Benchmark: knowledge-graph embedding throughput on WN18RR, recforge (components/train_kge: one-vs-all scoring as
one matrix product, distinct queries per 1-N row) against PyKEEN at the same model and dimension, side by side in
one run. Training: triples per second over the same number of optimiser steps (ours 1-N; PyKEEN's 1-N LCWA loop,
the same regime, and its sLCWA loop with negatives, its default). Evaluation: filtered ranking queries per second
(both directions), ours against PyKEEN's RankBasedEvaluator, each on its own model, and ours on PyKEEN's model.
Run on demand:

    python tests/benchmarks/bench_kge.py [--dim 32] [--steps 20] [--queries 1000] [--models transe,distmult]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from components.train_kge import pykeen_side, ranking, raw
from components.train_kge.graph import QueryIndex
from components.train_kge.models import KGEModel
from components.train_kge.train import batch_loss, known_index, scorer_of

PYKEEN_NAMES = {"transe": "TransE", "distmult": "DistMult"}


def ours_training(name: str, graph, dim: int, steps: int, batch: int) -> dict:
    torch.manual_seed(0)
    model = KGEModel(name, graph.n_entities, graph.n_relations, dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    index = QueryIndex.build(graph.splits["train"], graph.n_relations)
    order = np.random.default_rng(0).permutation(len(index.queries))
    started, triples = time.perf_counter(), 0
    for step in range(steps):
        loss, n = batch_loss(model, index, order[step * batch : (step + 1) * batch], "ce")
        optimizer.zero_grad()
        (loss / n).backward()
        optimizer.step()
        triples += n
    seconds = time.perf_counter() - started
    return {"model": model, "triples_per_s": triples / seconds, "seconds": seconds, "triples": triples}


def pykeen_training(name: str, graph, dim: int, steps: int, loop: str, batch: int, negatives: int) -> dict:
    from pykeen.losses import BCEWithLogitsLoss
    from pykeen.models import model_resolver
    from pykeen.training import LCWATrainingLoop, SLCWATrainingLoop
    from pykeen.training.callbacks import TrainingCallback

    factory = pykeen_side.factory(graph, "train")
    torch.manual_seed(0)
    kwargs = {"loss": BCEWithLogitsLoss()} if loop == "lcwa" else {}
    model = model_resolver.make(PYKEEN_NAMES[name], triples_factory=factory, embedding_dim=2 * dim, **kwargs)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    counted = {"batches": 0, "triples": 0, "seconds": 0.0}

    class Stop(TrainingCallback):  # time `steps` batches, then end the epoch early
        def pre_batch(self, **kwargs) -> None:
            counted.setdefault("start", time.perf_counter())

        def on_batch(self, epoch: int, batch, batch_loss: float, **kwargs) -> None:
            counted["batches"] += 1
            # LCWA: every positive label of the batch's (head, relation) rows; sLCWA: the positives
            counted["triples"] += int(batch["target"].sum()) if "target" in batch else len(batch["positives"])
            if counted["batches"] == steps:
                counted["seconds"] = time.perf_counter() - counted["start"]
                raise StopIteration

    if loop == "lcwa":
        training = LCWATrainingLoop(model=model, triples_factory=factory, optimizer=optimizer)
    else:
        training = SLCWATrainingLoop(
            model=model, triples_factory=factory, optimizer=optimizer,
            negative_sampler_kwargs={"num_negs_per_pos": negatives},
        )  # fmt: skip
    try:
        training.train(triples_factory=factory, num_epochs=1, batch_size=batch, use_tqdm=False, callbacks=[Stop()])
    except StopIteration:
        pass
    return {"model": model, "triples_per_s": counted["triples"] / counted["seconds"], **counted}


def evaluation(graph, queries: int, ours_model, pykeen_model, eval_batch: int) -> dict:
    test = graph.forward("test")[:queries]
    both = np.concatenate([test, np.stack([test[:, 2], test[:, 1] + len(graph.relations), test[:, 0]], 1)])
    known = known_index(graph)
    timings = {}
    started = time.perf_counter()
    ranking.evaluate(scorer_of(ours_model), both, known, graph.n_relations, eval_batch)
    timings["ours"] = len(both) / (time.perf_counter() - started)
    started = time.perf_counter()
    ranking.evaluate(pykeen_side.scorer_of(pykeen_model, len(graph.relations)), both, known, graph.n_relations,
                     eval_batch)  # fmt: skip
    timings["ours on PyKEEN's model"] = len(both) / (time.perf_counter() - started)
    from pykeen.evaluation import RankBasedEvaluator

    started = time.perf_counter()
    RankBasedEvaluator(filtered=True).evaluate(
        pykeen_model, torch.from_numpy(test), batch_size=eval_batch, use_tqdm=False,
        additional_filter_triples=[torch.from_numpy(graph.forward(s)) for s in ("train", "valid")],
    )  # fmt: skip
    timings["PyKEEN's RankBasedEvaluator"] = len(both) / (time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=32, help="our per-part d; PyKEEN's embedding_dim is 2d")
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps timed per trainer")
    parser.add_argument("--batch", type=int, default=128, help="queries (1-N) or positives (sLCWA) per step")
    parser.add_argument("--negatives", type=int, default=32, help="PyKEEN sLCWA negatives per positive")
    parser.add_argument("--queries", type=int, default=1000, help="test triples ranked (x2 directions)")
    parser.add_argument("--models", default="transe,distmult")
    parser.add_argument("--out", default="bench_kge.json")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    graph = raw.prepare(Path(os.environ.get("RECFORGE_DATA_DIR", "../shared/data")) / "WN18RR").graph
    rows = {}
    for name in args.models.split(","):
        ours = ours_training(name, graph, args.dim, args.steps, args.batch)
        lcwa = pykeen_training(name, graph, args.dim, args.steps, "lcwa", args.batch, args.negatives)
        slcwa = pykeen_training(name, graph, args.dim, args.steps, "slcwa", 4 * args.batch, args.negatives)
        speeds = evaluation(graph, args.queries, ours["model"], slcwa["model"], 256)
        rows[name] = {
            "train_triples_per_s": {
                "ours (1-N)": ours["triples_per_s"],
                "PyKEEN LCWA (1-N)": lcwa["triples_per_s"],
                f"PyKEEN sLCWA ({args.negatives} negatives)": slcwa["triples_per_s"],
            },
            "eval_queries_per_s": speeds,
        }
        print(f"\n{name}, d = {args.dim} (PyKEEN embedding_dim {2 * args.dim}), WN18RR:")
        print("| trainer | triples / s | ours / it |\n|---|---|---|")
        for key, value in rows[name]["train_triples_per_s"].items():
            print(f"| {key} | {value:,.0f} | {ours['triples_per_s'] / value:.1f}x |")
        print("| evaluator | queries / s | ours / it |\n|---|---|---|")
        for key, value in speeds.items():
            print(f"| {key} | {value:,.0f} | {speeds['ours'] / value:.1f}x |")
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__}
    Path(args.out).write_text(json.dumps({"machine": machine, "args": vars(args), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
