"""Benchmark: recforge's alignment step vs stock TRL DPOTrainer (sigmoid loss), same model, pairs and batch.

Both train LoRA (r=8, all linear layers) on the same recommendation pairs (LLaRA-style prompts, chosen = the
true next title, rejected = a wrong candidate) with the same batch of pairs and the same number of steps. TRL gets
its best settings for this case: reference log-probs precomputed in one pass before training
(`precompute_ref_log_probs`, batch twice the training batch), as ours are; its padding-free mode is unavailable
for DPO in TRL 1.16 (it warns and pads) and needs FlashAttention anyway. `--trl-reference adapter` gives TRL's
default instead (reference = the model with the adapter disabled, computed at every step).
Tokens/s counts prompt + completion tokens of chosen and rejected sequences, from the median step time; the
end-to-end column includes our reference pass. Run on demand:

    python tests/benchmarks/bench_align.py [--pairs 8] [--steps 24] [--model tiny|smollm2-135m] [--trl-reference ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from transformers import TrainerCallback

from components.align.config import AlignConfig
from components.align.trainer import train_alignment
from components.common.models import load_base_model, save_model
from components.common.prepared import Prepared
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.recsys.prompts import template_for, training_examples

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class Clock(TrainerCallback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self.start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self.start)

    def median(self) -> float:
        steady = sorted(self.times[3:]) or self.times
        return steady[len(steady) // 2]


def make_pairs(work: Path, n: int) -> tuple[Prepared, pa.Table]:
    data_dir = work / "prepared"
    if not (data_dir / "stats.json").is_file():
        prepare(PrepareConfig(), data_dir)
    data = Prepared(data_dir)
    examples = training_examples(data, template_for("movielens-latest-small"), 10, n, 19, seed=0)
    rng = np.random.default_rng(0)
    rejected = [
        " " + data.titles[int(rng.choice(c[c != t]))]
        for c, t in zip(examples.candidates, examples.targets, strict=True)
    ]
    table = pa.table(
        {
            "prompt": examples.prompts,
            "chosen": examples.completions,
            "rejected": rejected,
            "strategy": ["random"] * n,
            "epsilon": np.zeros(n, np.float32),
        }
    )
    return data, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8, help="pairs per step")
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--trl-reference", choices=("precomputed", "adapter"), default="precomputed")
    args = parser.parse_args()
    results = Path(__file__).parent / "results"
    work = results / "align-bench"
    n = args.pairs * args.steps
    data, table = make_pairs(work, n)
    model, tokenizer = load_base_model(args.model, corpus=data.titles, seed=0)
    sft_dir = work / "sft"
    save_model(model, tokenizer, sft_dir / "model")
    prefs = work / "prefs"
    prefs.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, prefs / "pairs.parquet")
    pq.write_table(table.slice(0, args.pairs), prefs / "eval_pairs.parquet")
    (prefs / "stats.json").write_text(json.dumps({"pairs": n}))
    (prefs / "model.json").write_text(
        json.dumps({"kind": "llm", "template": template_for("movielens-latest-small"), "history_len": 10})
    )
    tokens = (
        sum(
            2 * len(tokenizer(p).input_ids) + len(tokenizer(c).input_ids) + len(tokenizer(r).input_ids) + 2
            for p, c, r in zip(
                table["prompt"].to_pylist(), table["chosen"].to_pylist(), table["rejected"].to_pylist(), strict=True
            )
        )
        / args.steps
    )  # tokens per step

    # recforge: precomputed reference log-probs, completion-only head, LOSSES["dpo"]
    ours = Clock()
    start = time.perf_counter()
    config = AlignConfig(
        align_loss="dpo", align_batch_size=args.pairs, align_lora_alpha=16, align_checkpoint_dir=str(work / "ck")
    )
    for old in (work / "ck").glob("checkpoint-*"):
        import shutil

        shutil.rmtree(old)
    train_alignment(config, prefs, sft_dir, work / "ours", callbacks=[ours], progress=False)
    ours_total = time.perf_counter() - start

    # stock TRL DPOTrainer, sigmoid loss, reference precomputed (or the adapter disabled at every step)
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    model, tokenizer = load_base_model(str(sft_dir / "model"))
    trl_clock = Clock()
    trl_args = DPOConfig(
        output_dir=str(work / "trl"),
        per_device_train_batch_size=args.pairs,
        max_steps=args.steps,
        learning_rate=5e-4,
        bf16=False,
        gradient_checkpointing=False,
        logging_steps=1000,
        save_strategy="no",
        report_to=[],
        max_length=1024,
        beta=0.1,
        loss_type=["sigmoid"],
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        disable_tqdm=True,
        precompute_ref_log_probs=args.trl_reference == "precomputed",
        precompute_ref_batch_size=2 * args.pairs,
    )
    trainer = DPOTrainer(
        model=model,
        args=trl_args,
        processing_class=tokenizer,
        train_dataset=Dataset.from_dict({k: table[k].to_pylist() for k in ("prompt", "chosen", "rejected")}),
        peft_config=LoraConfig(r=8, lora_alpha=16, target_modules=LORA_TARGETS, task_type="CAUSAL_LM"),
        callbacks=[trl_clock],
    )
    start = time.perf_counter()
    trainer.train()
    trl_total = time.perf_counter() - start

    rows = {
        "recforge align (dpo)": {"s_per_step": ours.median(), "total_s": ours_total},
        "stock TRL DPOTrainer (sigmoid)": {
            "s_per_step": trl_clock.median(),
            "total_s": trl_total,
            "reference": args.trl_reference,
        },
    }
    base = rows["stock TRL DPOTrainer (sigmoid)"]["s_per_step"]
    print(f"\n{args.model}, {args.pairs} pairs/step, {args.steps} steps, {tokens:.0f} tokens/step, "
          f"TRL reference {args.trl_reference}\n")  # fmt: skip
    print("| trainer | s/step (median) | tokens/s | vs TRL | end to end (s) |\n|---|---|---|---|---|")
    for name, r in rows.items():
        r["tokens_per_s"] = tokens / r["s_per_step"]
        ratio = base / r["s_per_step"]
        print(f"| {name} | {r['s_per_step']:.3f} | {r['tokens_per_s']:.0f} | {ratio:.2f}x | {r['total_s']:.1f} |")
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "cuda": torch.cuda.is_available(),
    }
    (results / f"align-{args.model}-trl-{args.trl_reference}.json").write_text(
        json.dumps({"machine": machine, "tokens_per_step": tokens, "rows": rows}, indent=2)
    )


if __name__ == "__main__":
    main()
