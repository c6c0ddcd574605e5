"""Benchmark: stock TRL SFTTrainer vs recforge's completion-only LM head, same model, data and steps.

Both train the tiny preset for the same number of steps on the same LLaRA-style examples; reported: seconds
per step, the ratio, and the final evaluation loss (which should agree). Run on demand:

    python tests/benchmarks/bench_sft_head.py [--examples 320]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path
from unittest import mock

import trl
from report import report_training_rows

from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.train_sft import completion_head, trainer
from components.train_sft.config import SFTConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=320)
    args = parser.parse_args()
    results = Path(__file__).parent / "results"
    work = results / "sft-head"
    data = work / "prepared"
    if not (data / "stats.json").is_file():
        prepare(PrepareConfig(), data)
    rows = {}
    for name, cls in (("stock TRL SFTTrainer", trl.SFTTrainer), ("recforge completion head", None)):
        config = SFTConfig(
            sft_max_examples=args.examples, sft_epochs=1.0, sft_checkpoint_dir=str(work / f"ck-{len(rows)}")
        )
        patch = mock.patch.object(completion_head, "CompletionHeadSFTTrainer", cls) if cls else contextlib.nullcontext()
        with patch:
            start = time.perf_counter()
            record = trainer.train_sft(config, data, work / f"out-{len(rows)}", progress=False)
            seconds = time.perf_counter() - start
        rows[name] = {"seconds": seconds, "steps": record["global_step"], "eval_loss": record["eval_loss"]}
    header = "seconds (incl. setup + 2 evaluations)"
    report_training_rows(rows, "recforge completion head", "trainer", header, results / "sft_head.json")


if __name__ == "__main__":
    main()
