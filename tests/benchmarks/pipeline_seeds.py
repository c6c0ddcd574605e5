"""A pipeline's model comparison over seeds: run it with default settings once per seed (every seed parameter
set to that seed) and print each model's metrics as mean ± standard deviation, with the wall time of each run.
Run on demand (rec-alignment about 13 minutes per seed on 2 cores, ilora about 10):

    python tests/benchmarks/pipeline_seeds.py --pipeline rec-alignment [--seeds 1,2,3] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import mlflow
import numpy as np

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.local import parse_overrides, run_local

KEYS = ("hr_1", "hr_5", "hr_10", "ndcg_5", "ndcg_10", "mrr", "valid_ratio", "hallucination_rate", "avg_pop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="rec-alignment")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    entry = catalog.get(args.pipeline)
    seed_params = [name for name in entry.table() if name == "seed" or name.endswith("_seed")]
    workdir = Path(args.workdir or Path(__file__).parent / "results" / f"{args.pipeline}-seeds")
    per_model: dict[str, list[dict]] = {}
    seconds = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        arguments = {**parse_overrides(entry, args.sets), **{k: seed for k in seed_params}}
        result = run_local(entry, arguments, workdir / f"seed-{seed}")
        seconds[seed] = result.seconds
        client = mlflow.MlflowClient(default_tracking_uri(result.workdir))
        experiment = client.get_experiment_by_name(args.pipeline).experiment_id
        for run in client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'"):
            if run.data.tags.get("recforge.step", "").startswith("evaluate-") and "hr_10" in run.data.metrics:
                per_model.setdefault(run.data.tags["recforge.model"], []).append({"seed": seed, **run.data.metrics})
        print(f"seed {seed}: {result.seconds:.0f}s", flush=True)
    shown = [k for k in KEYS if all(k in r for rows in per_model.values() for r in rows)]
    print("\n| model | " + " | ".join(shown) + " |\n|---|" + "---|" * len(shown))
    for model, rows in per_model.items():
        cells = [f"{np.mean([r[k] for r in rows]):.4f} ± {np.std([r[k] for r in rows], ddof=1):.4f}" for k in shown]
        print(f"| {model} | " + " | ".join(cells) + " |")
    out = Path(__file__).parent / "results" / f"{args.pipeline}_seeds.json"
    out.write_text(json.dumps({"seconds": seconds, "models": per_model}, indent=2))


if __name__ == "__main__":
    main()
