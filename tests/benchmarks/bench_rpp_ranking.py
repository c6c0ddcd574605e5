"""Benchmark: RPP's likelihood ranking calls (one user's 10 candidates under a personalised prompt) per second, with
the prompt's KV cache shared by its 10 titles (recforge: components/recsys/scoring.py score_shared_prompt) against
one full prompt + title forward per candidate (score_full, batched, the obvious alternative), side by side on the
same RPP prompts, with equal scores checked. Run on demand:

    python tests/benchmarks/bench_rpp_ranking.py [--users 32] [--model smollm2-135m] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from components.common.models import load_base_model
from components.common.prepared import Prepared
from components.personalize_prompt.actions import DOMAINS, Choice, action_sets, render
from components.personalize_prompt.rollout import build_batch
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.recsys.prompts import chat_prompt
from components.recsys.scoring import score_full, score_shared_prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--history", type=int, default=10, help="history titles in each prompt")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-rpp-"))
    prepare(PrepareConfig(), work / "data")
    data = Prepared(work / "data")
    split = data.split("test")
    rows = np.arange(args.users)
    batch = build_batch(data.titles, split, rows, np.zeros((args.users, 1), np.float32), seed=0)
    domain = DOMAINS["movielens-latest-small"]
    sets = action_sets(domain)
    model, tokenizer = load_base_model(args.model, corpus=data.titles)
    model = model.to(args.device).eval()
    prompts = [
        chat_prompt(tokenizer, render(sets, Choice(u % 5, 1, u % 7, u % 5, args.history), domain, h, t)) + " "
        for u, (h, t) in enumerate(zip(batch.histories, batch.candidate_titles, strict=True))
    ]

    def timed(fn) -> tuple[float, np.ndarray]:
        best, out = float("inf"), None
        for _ in range(args.repeats):
            if args.device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            out = fn()
            if args.device == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - started)
        return best, out

    shared_s, shared = timed(lambda: score_shared_prompt(model, tokenizer, prompts, batch.candidate_titles, 8))
    full_s, full = timed(lambda: score_full(model, tokenizer, prompts, batch.candidate_titles, 40))
    tokens = float(np.mean([len(tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]))
    result = {
        "users": args.users,
        "model": args.model,
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "cores": os.cpu_count(),
        "prompt_tokens_mean": round(tokens, 1),
        "shared_calls_per_s": round(args.users / shared_s, 2),
        "full_calls_per_s": round(args.users / full_s, 2),
        "speedup": round(full_s / shared_s, 2),
        "max_abs_score_difference": float(np.abs(shared - full).max()),
        "same_order_share": float(np.mean((np.argsort(-shared, 1) == np.argsort(-full, 1)).all(1))),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
