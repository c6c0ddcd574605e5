"""Benchmark: the SFT step in one process vs 2 torchrun processes with plain DDP, DeepSpeed ZeRO-2 and ZeRO-3,
through the step's own launch path (components.common.launch.launcher.launch_training), same data and global batch.

Reported per variant: wall seconds (process start, training, evaluation, saving), steps, final evaluation loss,
and the ratio to one process. On a CPU machine this measures what the distributed machinery costs (gloo, ZeRO's
partitioning and gathers), not a speed-up: the speed-up needs one GPU per process. Run on demand:

    python tests/benchmarks/bench_distributed.py [--examples 256] [--batch 16]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from report import report_training_rows

from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.train_sft.body import run_sft
from components.train_sft.config import SFTConfig

VARIANTS = {
    "1 process": {"sft_nproc": 1},
    "2 processes, DDP": {"sft_nproc": 2},
    "2 processes, ZeRO-2": {"sft_nproc": 2, "sft_deepspeed": "zero2"},
    "2 processes, ZeRO-3": {"sft_nproc": 2, "sft_deepspeed": "zero3"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16, help="global batch (split over the processes)")
    args = parser.parse_args()
    results = Path(__file__).parent / "results"
    work = results / "distributed"
    data = work / "prepared"
    if not (data / "stats.json").is_file():
        prepare(PrepareConfig(), data)
    rows = {}
    for name, overrides in VARIANTS.items():
        out, ckpt = work / f"out-{len(rows)}", work / f"ck-{len(rows)}"
        for folder in (out, ckpt):
            shutil.rmtree(folder, ignore_errors=True)
        config = SFTConfig(
            sft_max_examples=args.examples, sft_eval_examples=64, sft_epochs=1.0,
            sft_batch_size=args.batch // overrides["sft_nproc"], sft_checkpoint_dir=str(ckpt), **overrides,
        )  # fmt: skip
        start = time.perf_counter()
        record = run_sft(config, data, out)
        seconds = time.perf_counter() - start
        rows[name] = {"seconds": seconds, "steps": record["global_step"], "eval_loss": record["eval_loss"]}
        shutil.rmtree(ckpt, ignore_errors=True)  # scratch (DeepSpeed writes its own scripts into checkpoints)
        print(f"{name}: {seconds:.1f}s, {record['global_step']} steps, eval loss {record['eval_loss']:.4f}")
    report_training_rows(rows, "1 process", "variant", "seconds", results / "distributed.json")


if __name__ == "__main__":
    main()
