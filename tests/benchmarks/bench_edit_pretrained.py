"""Benchmark and sweep: AlphaEdit (Fang et al., ICLR 2025) and MEMIT on the pretrained `smollm2-135m`.

1. The C0 pass over WikiText-2 at the edited layers, two ways in one run: the forward stopped after the deepest
   edited layer (recforge) against the full forward of the same batches (the obvious implementation); tokens/s of
   both, and that both give the same C0.
2. A layer sweep: for windows of `--width` consecutive layers over the model's depth, one batch of `--edits`
   world-fact edits with each method on a fresh copy of the model, then efficacy / generalization / specificity
   and seconds per batch. Its table chose the default layers of a 30-layer Llama (components/edit_knowledge/layers.py).

Run on demand (2 cores: about 20 minutes at the defaults):

    python tests/benchmarks/bench_edit_pretrained.py [--texts 400] [--edits 10] [--starts 0,2,4,6,9,12,16] \
        [--methods alphaedit,memit]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import torch

from components.common.models import load_base_model
from components.edit_knowledge import facts as F
from components.edit_knowledge.alphaedit import null_space_projector, rule_for
from components.edit_knowledge.config import EditConfig
from components.edit_knowledge.core import memit_weight, target_settings
from components.edit_knowledge.corpus import wikitext_folder, wikitext_paragraphs
from components.edit_knowledge.evaluation import efficacy, generalization, specificity
from components.edit_knowledge.known import keep_known
from components.edit_knowledge.layers import key_size
from components.edit_knowledge.sequence import EditState, edit_batch
from components.edit_knowledge.stats import second_moments
from components.edit_knowledge.targets import context_templates
from components.edit_knowledge.world import WORLD_RELATIONS, world_facts

MODEL = "smollm2-135m"


def timed_moments(
    model: Any, tokenizer: Any, texts: list[str], layers: list[int], stop_early: bool
) -> tuple[dict, float]:
    """C0 sums over `texts` at `layers` and the seconds they took, the forward stopped early or run whole."""
    started = time.time()
    moments = second_moments(model, tokenizer, texts, layers, batch_size=16, stop_early=stop_early)
    return moments, time.time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=400, help="WikiText-2 paragraphs for C0")
    parser.add_argument("--edits", type=int, default=10, help="edits in the one batch of each sweep point")
    parser.add_argument("--width", type=int, default=5, help="consecutive layers edited together")
    parser.add_argument("--starts", default="0,2,4,6,9,12,16", help="first layer of each window")
    parser.add_argument("--templates", type=int, default=EditConfig().edit_context_templates)
    parser.add_argument("--methods", default="alphaedit,memit", help="methods run at every window")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "edit_pretrained.json"))
    args = parser.parse_args()
    config = EditConfig()
    model, tokenizer = load_base_model(MODEL)
    model.eval()
    texts = wikitext_paragraphs(wikitext_folder(), args.texts)
    starts = [int(s) for s in args.starts.split(",")]
    all_layers = sorted({s + i for s in starts for i in range(args.width)})

    # 1. the C0 pass, stopped early against full, at the default layers' window (the first sweep window)
    first = list(range(starts[0], starts[0] + args.width))
    full, full_s = timed_moments(model, tokenizer, texts, first, stop_early=False)
    early, early_s = timed_moments(model, tokenizer, texts, first, stop_early=True)
    tokens = early[first[0]][1]
    same = all(torch.allclose(full[k][0], early[k][0], rtol=1e-6, atol=1e-6) for k in first)
    c0 = {
        "layers": first,
        "tokens": tokens,
        "stopped_s": early_s,
        "full_s": full_s,
        "stopped_tok_s": tokens / early_s,
        "full_tok_s": tokens / full_s,
        "speedup": full_s / early_s,
        "same_c0": same,
    }
    print(json.dumps(c0))
    moments, sweep_c0_s = timed_moments(model, tokenizer, texts, all_layers, stop_early=True)
    covs = {layer: total / count for layer, (total, count) in moments.items()}

    # 2. the sweep: the same edits at every window, both methods, fresh model each time
    facts, counts = keep_known(model, tokenizer, world_facts(1_000_000), WORLD_RELATIONS)
    requests = F.edit_requests(facts, args.edits, 5, seed=0, templates=WORLD_RELATIONS)
    torch.manual_seed(0)
    templates = context_templates(model, tokenizer, args.templates, seed=config.edit_seed)
    settings = target_settings(config)
    rows = []
    for start in starts:
        layers = list(range(start, start + args.width))
        projectors = {layer: null_space_projector(covs[layer], config.nullspace_threshold) for layer in layers}
        for method in args.methods.split(","):
            edited, _ = load_base_model(MODEL)
            edited.eval()
            rule = rule_for(method, l2=config.edit_l2, mom2_weight=memit_weight(config, key_size(edited, layers[0])))
            state = EditState(layers, rule, projectors=projectors if rule.project else {}, covs=covs)
            timing = edit_batch(edited, tokenizer, requests, state, templates, settings)
            row = {
                "layers": f"{layers[0]}-{layers[-1]}",
                "method": method,
                "efficacy": efficacy(edited, tokenizer, requests),
                "generalization": generalization(edited, tokenizer, requests),
                "specificity": specificity(edited, tokenizer, requests),
                "seconds_per_batch": timing["seconds"],
                "v_star_nll": timing["target_nll"],
                "null_space_dim": round(float(torch.trace(projectors[layers[0]]))),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "model": MODEL,
        "texts": args.texts,
        "edits": args.edits,
        "context_templates": len(templates) - 1,
        "known": counts,
        "c0": c0,
        "sweep_c0_seconds": sweep_c0_s,
        "sweep": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")
    print("| layers | method | efficacy | generalization | specificity | s / batch |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['layers']} | {row['method']} | {row['efficacy']:.2f} | {row['generalization']:.2f} | "
            f"{row['specificity']:.2f} | {row['seconds_per_batch']:.1f} |"
        )


if __name__ == "__main__":
    main()
