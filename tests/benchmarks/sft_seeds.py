"""Stability of the tiny SFT recommender over seeds: train with the default settings for several `sft_seed`
values on ml-latest-small and evaluate each on the same test candidates. Run on demand (about 4 min per seed
on 2 cores):

    python tests/benchmarks/sft_seeds.py [--seeds 1,2,3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from components.evaluate.config import EvalConfig
from components.evaluate.core import evaluate
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.train_sft.config import SFTConfig
from components.train_sft.trainer import train_sft


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    args = parser.parse_args()
    work = Path(__file__).parent / "results" / "sft-seeds"
    data = work / "prepared"
    if not (data / "stats.json").is_file():
        prepare(PrepareConfig(), data)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        start = time.perf_counter()
        config = SFTConfig(sft_seed=seed, sft_checkpoint_dir=str(work / f"ck-{seed}"))
        record = train_sft(config, data, work / f"sft-{seed}", progress=False)
        result = evaluate(work / f"sft-{seed}", data, EvalConfig(), work / f"eval-{seed}")
        rows.append({"seed": seed, "seconds": time.perf_counter() - start, "eval_loss": record["eval_loss"],
                     **result["metrics"]})  # fmt: skip
        print(json.dumps(rows[-1]))
    keys = ("hr_1", "hr_5", "hr_10", "ndcg_10", "mrr", "valid_ratio", "avg_pop")
    print("\n| seed | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for r in rows:
        print(f"| {r['seed']} | " + " | ".join(f"{r[k]:.4f}" for k in keys) + " |")
    print(
        "| mean ± sd | "
        + " | ".join(f"{np.mean([r[k] for r in rows]):.4f} ± {np.std([r[k] for r in rows], ddof=1):.4f}" for k in keys)
        + " |"
    )
    (work.parent / "sft_seeds.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
