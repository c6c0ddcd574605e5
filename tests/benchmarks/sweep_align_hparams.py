"""Sweep: SimPO's and α-DPO's β and γ at this scale, chosen on the valid split (issue: model selection).

SimPO (Meng et al. 2024) and α-DPO (Wu et al. 2025) ship configs tuned for Mistral-7B / Llama-3-8B chat data;
our defaults took them over. This runs the rec-alignment pipeline once per grid point (losses `simpo` and
`alpha_dpo`, `align_hparams` set for both, everything else at its defaults, so the SFT model, pairs and users are
the same in every run: same seeds), reads each model's `valid_ndcg_10` (the seeded valid-split ranking) and test
metrics from MLflow, and reports the grid with the point the valid split picks. Run on demand (2 cores: about
8 minutes per point at the defaults):

    python tests/benchmarks/sweep_align_hparams.py [--set key=value ...] [--workdir DIR]

Writes tests/benchmarks/results/align_hparams.json and prints a Markdown table. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import mlflow

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.local import run_local

# (simpo beta, simpo gamma, alpha_dpo beta, alpha_dpo gamma): the shipped defaults first
GRID = ((2.5, 0.25, 2.5, 0.375), (2.5, 1.0, 2.5, 1.0), (10.0, 0.25, 10.0, 0.375), (10.0, 3.0, 10.0, 3.0))
KEYS = ("valid_ndcg_10", "ndcg_10", "hr_10", "hr_1")


def parse_sets(pairs: list[str]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        found[key] = value
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], help="extra pipeline settings, key=value")
    parser.add_argument("--workdir", default="recforge-runs/sweep-align")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "align_hparams.json"))
    args = parser.parse_args()
    entry = catalog.get("rec-alignment")
    rows = []
    for index, (s_beta, s_gamma, a_beta, a_gamma) in enumerate(GRID):
        hparams = f"simpo.beta={s_beta},simpo.gamma={s_gamma},alpha_dpo.beta={a_beta},alpha_dpo.gamma={a_gamma}"
        started = time.time()
        settings = {**parse_sets(args.set), "losses": ["simpo", "alpha_dpo"], "align_hparams": hparams}
        run = run_local(entry, settings, Path(args.workdir) / f"point-{index}")
        client = mlflow.MlflowClient(default_tracking_uri(run.workdir))
        experiment = client.get_experiment_by_name("rec-alignment").experiment_id
        children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{run.parent_run_id}'")
        for child in children:
            model = child.data.tags.get("recforge.model")
            step = child.data.tags.get("recforge.step", "")
            if model in ("simpo", "alpha_dpo", "sft") and step.startswith("evaluate"):
                beta, gamma = {"simpo": (s_beta, s_gamma), "alpha_dpo": (a_beta, a_gamma)}.get(model, (None, None))
                row = {"model": model, "beta": beta, "gamma": gamma, **{k: child.data.metrics[k] for k in KEYS}}
                rows.append(row)
                print(json.dumps(row), flush=True)
        print(f"point {index}: {time.time() - started:.0f} s", flush=True)
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "grid": GRID, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1), encoding="utf-8")
    print("| loss | beta | gamma | valid ndcg@10 | test ndcg@10 | test hr@10 | test hr@1 |")
    print("|---|---|---|---|---|---|---|")
    for row in sorted(rows, key=lambda r: (r["model"], r["beta"] or 0, r["gamma"] or 0)):
        print(
            f"| {row['model']} | {row['beta']} | {row['gamma']} | {row['valid_ndcg_10']:.4f} | {row['ndcg_10']:.4f} |"
            f" {row['hr_10']:.4f} | {row['hr_1']:.4f} |"
        )


if __name__ == "__main__":
    main()
