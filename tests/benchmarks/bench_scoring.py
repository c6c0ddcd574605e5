"""Benchmark: ranking candidates with an LLM, three ways, side by side on the same users.

1. shared prompt: encode each user's prompt once, score all 20 candidates in one packed block after its KV
   cache (recforge);
2. one full forward per candidate (prompt + candidate, batched, no sharing);
3. generate-and-match: greedy generation, then title matching (gives one item, not a ranking).

Reports users per second and the ratios. Run on demand:

    python tests/benchmarks/bench_scoring.py [--users 64] [--model tiny|qwen2-0.5b|<dir>] [--device cpu|cuda]

Random-weight presets are fine here: speed does not depend on what the weights learned.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from components.common.models import load_base_model
from components.common.prepared import Prepared
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.recsys.generative import TitleMatcher, generate_answers
from components.recsys.prompts import completion, split_examples, template_for
from components.recsys.scoring import score_full, score_shared_prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--work", default=str(Path(__file__).parent / "results" / "scoring-data"))
    args = parser.parse_args()
    work = Path(args.work)
    if not (work / "stats.json").is_file():
        prepare(PrepareConfig(), work)
    data = Prepared(work)
    test = data.split("test").take(torch.arange(args.users).numpy())
    examples = split_examples(data, test, template_for("movielens-latest-small"), 10)
    texts = [[completion(data.titles[c]) for c in row] for row in test.candidates]
    model, tokenizer = load_base_model(args.model, corpus=data.titles, seed=0, dtype=getattr(torch, args.dtype))
    model.to(args.device).eval()

    def timed(fn) -> float:
        fn(slice(0, 4))  # warm-up
        if args.device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn(slice(0, args.users))
        if args.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    matcher = TitleMatcher(data.titles)
    runs = {
        "shared prompt (KV cache)": lambda s: score_shared_prompt(model, tokenizer, examples.prompts[s], texts[s], 8),
        "full forward per candidate": lambda s: score_full(model, tokenizer, examples.prompts[s], texts[s], 40),
        "generate-and-match": lambda s: [
            matcher.match(answer, cands)
            for answer, cands in zip(
                generate_answers(model, tokenizer, examples.prompts[s], 32, 16), test.candidates[s], strict=True
            )
        ],
    }
    seconds = {name: timed(fn) for name, fn in runs.items()}
    base = seconds["shared prompt (KV cache)"]
    print(f"\n{args.model} on {args.device} ({args.dtype}), {args.users} users x 20 candidates\n")
    print("| method | seconds | users/s | shared prompt is faster by |\n|---|---|---|---|")
    for name, s in seconds.items():
        print(f"| {name} | {s:.2f} | {args.users / s:.1f} | {s / base:.1f}x |")
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "device": args.device}
    if args.device == "cuda":
        machine["gpu"] = torch.cuda.get_device_name()
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    record = {"model": args.model, "users": args.users, "seconds": seconds, "machine": machine}
    (out / f"scoring-{args.model.replace('/', '_')}-{args.device}.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
