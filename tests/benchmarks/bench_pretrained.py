"""Benchmark: throughput of recforge's SFT step, candidate scoring and DPO step at a pretrained model (default
`smollm2-135m`), each as tokens/s and as a share of this machine's matmul ceiling measured in the same run.

- ceiling: the best of a few square fp32 (CPU) or bf16 (GPU) matmuls, in FLOP/s;
- SFT: `train_sft` (LoRA r=8 on all linear layers, TRL with recforge's completion-only head) on next-item examples,
  median step time; 6 N FLOPs per token (forward + backward), N = the model's parameters;
- scoring: `score_shared_prompt` (each prompt encoded once, the 20 candidates scored in one packed block after its
  KV cache); 2 N FLOPs per token processed (prompt tokens once, candidate tokens each);
- DPO: `train_alignment` with the DPO loss (reference log-probs precomputed, so a step is the policy's forward and
  backward on chosen and rejected), median step time; 6 N FLOPs per token.

Tokens count prompt and completion tokens of every sequence. Run on demand:

    python tests/benchmarks/bench_pretrained.py [--model smollm2-135m] [--batch 8] [--steps 12] [--users 16]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq
import torch
from bench_align import Clock, make_pairs

from components.align.config import AlignConfig
from components.align.trainer import train_alignment
from components.common.models import load_base_model
from components.recsys.prompts import in_chat, split_examples, template_for, training_examples, uses_chat
from components.recsys.scoring import score_shared_prompt
from components.train_sft.config import SFTConfig
from components.train_sft.trainer import train_sft


def matmul_ceiling(device: str) -> float:
    """FLOP/s of the best square matmul (fp32 on CPU, bf16 on GPU) of a few sizes, after a warm-up."""
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    best = 0.0
    for n in (1024, 2048, 4096 if device == "cuda" else 1536):
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        a @ b
        repeats = 20 if device == "cuda" else 5
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = max(best, 2 * n**3 * repeats / (time.perf_counter() - start))
    return best


def sequence_tokens(tokenizer: object, prompts: list[str], completions: list[str]) -> int:
    """Prompt + completion + end-of-sequence tokens of every example."""
    pairs = zip(prompts, completions, strict=True)
    return sum(len(tokenizer(p + c, add_special_tokens=False).input_ids) + 1 for p, c in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batch", type=int, default=8, help="sequences per SFT step, pairs per DPO step")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--users", type=int, default=16, help="users whose 20 candidates are scored")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    results = Path(__file__).parent / "results"
    work = results / "pretrained-bench"
    shutil.rmtree(work / "runs", ignore_errors=True)
    data, pairs = make_pairs(work, args.batch * args.steps)
    template = template_for("movielens-latest-small")
    model, tokenizer = load_base_model(args.model, corpus=data.titles, seed=0)
    parameters = sum(p.numel() for p in model.parameters())
    ceiling = matmul_ceiling(device)
    rows: dict[str, dict] = {}

    # 1. SFT: the step's own trainer, timed per optimizer step
    sft_clock = Clock()
    config = SFTConfig(base_model=args.model, sft_max_examples=args.batch * args.steps, sft_eval_examples=8,
                       sft_epochs=1.0, sft_batch_size=args.batch, sft_checkpoint_dir=str(work / "runs" / "sft-ck"),
                       sft_save_steps=10_000)  # fmt: skip
    examples = training_examples(data, template, config.sft_history_len, config.sft_max_examples, 19, config.sft_seed)
    if uses_chat(tokenizer):
        examples = in_chat(examples, tokenizer)
    train_sft(config, work / "prepared", work / "runs" / "sft", callbacks=[sft_clock], progress=False)
    rows["SFT step"] = {
        "tokens_per_step": sequence_tokens(tokenizer, examples.prompts, examples.completions) / args.steps,
        "seconds": sft_clock.median(),
        "flops_per_token": 6 * parameters,
    }

    # 2. Candidate scoring: shared-prompt KV cache, 20 candidates per user
    test = data.split("test").take(torch.arange(args.users).numpy())
    scored = split_examples(data, test, template, 10)
    if uses_chat(tokenizer):
        scored = in_chat(scored, tokenizer)
    texts = [[scored.answer(data.titles[c]) for c in row] for row in test.candidates]
    model.to(device).eval()
    score_shared_prompt(model, tokenizer, scored.prompts[:2], texts[:2])  # warm-up
    start = time.perf_counter()
    score_shared_prompt(model, tokenizer, scored.prompts, texts)
    seconds = time.perf_counter() - start
    processed = sum(len(tokenizer(p, add_special_tokens=False).input_ids) for p in scored.prompts) + sum(
        len(tokenizer(t, add_special_tokens=False).input_ids) + 1 for row in texts for t in row
    )
    rows["candidate scoring"] = {"tokens_per_step": processed, "seconds": seconds, "flops_per_token": 2 * parameters}

    # 3. DPO: the alignment step's own trainer on the SFT model, reference log-probs precomputed
    prefs = work / "runs" / "prefs"
    prefs.mkdir(parents=True)
    pq.write_table(pairs, prefs / "pairs.parquet")
    pq.write_table(pairs.slice(0, args.batch), prefs / "eval_pairs.parquet")
    (prefs / "stats.json").write_text(json.dumps({"pairs": pairs.num_rows}))
    (prefs / "model.json").write_text(json.dumps({"kind": "llm", "template": template, "history_len": 10}))
    dpo_clock = Clock()
    align = AlignConfig(align_loss="dpo", align_batch_size=args.batch, align_checkpoint_dir=str(work / "runs" / "ck"))
    train_alignment(align, prefs, work / "runs" / "sft", work / "runs" / "dpo", callbacks=[dpo_clock], progress=False)
    prompts, chosen, rejected = (pairs[k].to_pylist() for k in ("prompt", "chosen", "rejected"))
    tokens = sequence_tokens(tokenizer, prompts + prompts, chosen + rejected) / args.steps
    rows["DPO step"] = {"tokens_per_step": tokens, "seconds": dpo_clock.median(), "flops_per_token": 6 * parameters}

    print(f"\n{args.model} ({parameters / 1e6:.1f} M parameters) on {device}; ceiling {ceiling / 1e9:.1f} GFLOP/s\n")
    print("| step | tokens per step | s per step | tokens/s | share of the matmul ceiling |\n|---|---|---|---|---|")
    for name, r in rows.items():
        r["tokens_per_s"] = r["tokens_per_step"] / r["seconds"]
        r["share_of_ceiling"] = r["tokens_per_s"] * r["flops_per_token"] / ceiling
        print(f"| {name} | {r['tokens_per_step']:.0f} | {r['seconds']:.3f} | {r['tokens_per_s']:.0f} | "
              f"{r['share_of_ceiling']:.1%} |")  # fmt: skip
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "device": device}
    record = {"machine": machine, "model": args.model, "parameters": parameters, "ceiling_flops": ceiling, "rows": rows}
    (results / f"pretrained-{args.model}.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
