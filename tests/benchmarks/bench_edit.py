"""Benchmark: AlphaEdit's cost with and without the cached statistics and projection, side by side.

1. the statistics pass (C0 over the preserved corpus): computed vs read from the cache;
2. seconds per batch of edits: the projector computed once and reused (recforge) vs the statistics pass and the
   eigendecomposition redone before every batch (what a pipeline without the cache would pay per batch).

Run on demand:

    python tests/benchmarks/bench_edit.py [--items 300] [--epochs 30] [--edits 60] [--batch 20] [--model <dir>]

The fact model is the tiny preset trained on ml-latest-small facts (or a saved model given with --model).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch

from components.common.tiny import build_model, build_tokenizer
from components.edit_knowledge import facts as F
from components.edit_knowledge.alphaedit import null_space_projector, rule_for
from components.edit_knowledge.fact_model import train_on_sentences
from components.edit_knowledge.layers import resolve_layers
from components.edit_knowledge.sequence import EditState, edit_batch
from components.edit_knowledge.stats import cached_second_moments
from components.edit_knowledge.targets import TargetSettings, context_templates
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--edits", type=int, default=60)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--model", default="")
    parser.add_argument("--work", default=str(Path(__file__).parent / "results" / "scoring-data"))
    args = parser.parse_args()
    work = Path(args.work)
    if not (work / "stats.json").is_file():
        prepare(PrepareConfig(), work)
    items = pq.read_table(work / "items.parquet").to_pylist()
    facts = F.choose_subjects(F.item_facts(items), args.items, seed=0)
    requests = F.edit_requests(facts, args.edits, 3, seed=0)
    preserved = F.preserved_sentences(facts, requests)
    if args.model:
        from components.common.models import load_base_model

        model, tokenizer = load_base_model(args.model)
    else:
        tokenizer = build_tokenizer(F.sentences(facts), vocab_size=2048)
        model = build_model("tiny", len(tokenizer), 0, tokenizer)
        train_on_sentences(model, tokenizer, F.sentences(facts), epochs=args.epochs, lr=3e-3, batch_size=64, seed=0)
    model.eval()
    layers = resolve_layers(model, None)
    templates = context_templates(model, tokenizer, 2, seed=0)
    settings = TargetSettings(steps=10)
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        moments, _ = cached_second_moments(model, tokenizer, preserved, layers, cache)
        stats_fresh = time.perf_counter() - start
        start = time.perf_counter()
        moments, record = cached_second_moments(model, tokenizer, preserved, layers, cache)
        stats_cached = time.perf_counter() - start
        assert record["cached_layers"] == layers
    covs = {layer: total / count for layer, (total, count) in moments.items()}
    batches = [requests[i : i + args.batch] for i in range(0, len(requests), args.batch)]

    def run(reuse: bool) -> float:
        import copy

        edited = copy.deepcopy(model)
        projectors = {layer: null_space_projector(covs[layer]) for layer in layers}
        state = EditState(layers, rule_for("alphaedit", l2=0.1), projectors=projectors, covs=covs)
        torch.manual_seed(0)
        start = time.perf_counter()
        for batch in batches:
            if not reuse:
                with tempfile.TemporaryDirectory() as fresh:
                    again, _ = cached_second_moments(edited, tokenizer, preserved, layers, fresh)
                state.projectors = {
                    layer: null_space_projector(total / count) for layer, (total, count) in again.items()
                }
            edit_batch(edited, tokenizer, batch, state, templates, settings)
        return (time.perf_counter() - start) / len(batches)

    cached_batch = run(reuse=True)
    uncached_batch = run(reuse=False)
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "preserved_texts": len(preserved),
        "layers": layers,
        "stats_seconds_computed": round(stats_fresh, 3),
        "stats_seconds_cached": round(stats_cached, 3),
        "stats_ratio": round(stats_fresh / max(stats_cached, 1e-9), 1),
        "batch_size": args.batch,
        "seconds_per_batch_cached_projection": round(cached_batch, 3),
        "seconds_per_batch_recomputed_projection": round(uncached_batch, 3),
        "batch_ratio": round(uncached_batch / cached_batch, 2),
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "edit.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
