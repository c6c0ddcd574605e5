"""The rec-alignment comparison over seeds: run the whole pipeline with default settings once per seed (every
seed parameter set to it) and print each model's metrics as mean ± standard deviation. Run on demand (about
15 minutes per seed on 2 cores):

    python tests/benchmarks/alignment_seeds.py [--seeds 1,2,3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import mlflow
import numpy as np

from components.common.tracking import default_tracking_uri
from pipelines import registry
from pipelines.local import run_local

SEEDS = ("seed", "sasrec_seed", "sft_seed", "pref_seed", "align_seed")
KEYS = ("hr_1", "hr_5", "hr_10", "ndcg_5", "ndcg_10", "mrr", "valid_ratio", "hallucination_rate", "avg_pop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--workdir", default=str(Path(__file__).parent / "results" / "alignment-seeds"))
    args = parser.parse_args()
    per_model: dict[str, list[dict]] = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        result = run_local(registry.get("rec-alignment"), {k: seed for k in SEEDS}, Path(args.workdir) / f"seed-{seed}")
        client = mlflow.MlflowClient(default_tracking_uri(result.workdir))
        experiment = client.get_experiment_by_name("rec-alignment").experiment_id
        for run in client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'"):
            if run.data.tags.get("recforge.step", "").startswith("evaluate-"):
                per_model.setdefault(run.data.tags["recforge.model"], []).append({"seed": seed, **run.data.metrics})
        print(f"seed {seed}: {result.seconds:.0f}s", flush=True)
    print("\n| model | " + " | ".join(KEYS) + " |\n|---|" + "---|" * len(KEYS))
    for model, rows in per_model.items():
        cells = [f"{np.mean([r[k] for r in rows]):.4f} ± {np.std([r[k] for r in rows]):.4f}" for k in KEYS]
        print(f"| {model} | " + " | ".join(cells) + " |")
    out = Path(__file__).parent / "results" / "alignment_seeds.json"
    out.write_text(json.dumps(per_model, indent=2))


if __name__ == "__main__":
    main()
