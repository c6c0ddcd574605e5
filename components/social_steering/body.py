"""What the `social-steering` steps record in MLflow (NIRec, Pan et al., arXiv 2409.08934): the prepared dataset and
the simulation as dataset inputs, each estimator's training curve in a run tagged `recforge.model` with its test
log-loss and AUC, and per policy a run tagged `recforge.model` (`nirec`, `independent`, `mf`, `random`) holding
`ioip` and `dtne` with step = lambda index."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow

from components.common import tracking
from components.common.atomic import atomic_dir
from components.common.digests import digest_dir
from components.social_steering import core, store
from components.social_steering.config import EstimatorConfig, PolicyConfig, SimulationConfig
from components.social_steering.report import render

EVALUATION_FILE = "evaluation.json"


def _log_simulation(sim_dir: str, context: str) -> None:
    tracking.log_dataset("social-simulation", str(sim_dir), digest_dir(sim_dir), context)


def simulate_and_track(config: SimulationConfig, dataset_dir: str, out_dir: str) -> dict:
    tracking.log_prepared(dataset_dir, context="training")
    stats = core.simulate_social(config, dataset_dir, out_dir)
    _log_simulation(out_dir, "output")
    mlflow.log_metrics({k: float(v) for k, v in stats.items() if isinstance(v, int | float)})
    mlflow.log_artifact(str(Path(out_dir) / store.STATS_FILE))
    return stats


def train_and_track(name: str, config: EstimatorConfig, sim_dir: str, out_dir: str) -> dict:
    mlflow.set_tag("recforge.model", name)
    _log_simulation(sim_dir, "training")
    record = core.train_estimator(
        name, config, sim_dir, out_dir, on_epoch=lambda epoch, values: mlflow.log_metrics(values, step=epoch)
    )
    digest = tracking.log_model_output(name, out_dir)
    scalars = {k: float(v) for k, v in record.items() if isinstance(v, int | float) and k != "seconds"}
    scalars = {f"best_{k}" if k.startswith("valid_") else k: v for k, v in scalars.items()}  # not the curve's names
    mlflow.log_metrics(scalars)
    return {"digest": digest, **scalars}


def optimise_and_track(config: PolicyConfig, sim_dir: str, model_dirs: list[str], out_dir: str) -> dict:
    _log_simulation(sim_dir, "optimisation")
    for folder in model_dirs:
        tracking.log_model_input(Path(folder).name, folder)
    result = core.optimise_policies(config, sim_dir, model_dirs, out_dir)
    mlflow.log_metrics(result)
    return result


def evaluate_and_track(policy: str, sim_dir: str, policies_dir: str, out_dir: str) -> dict:
    mlflow.set_tag("recforge.model", policy)
    _log_simulation(sim_dir, "evaluation")
    result = core.evaluate_policy(policy, sim_dir, policies_dir)
    for step, (lam, row) in enumerate(zip(result["lambdas"], result["curve"], strict=True)):
        mlflow.log_metrics({"ioip": row["ioip"], "dtne": row["dtne"], "flips": row["flips"], "lambda": lam}, step=step)
    best = max(result["curve"], key=lambda r: r["ioip"])
    mlflow.log_metrics({"base_ioip": result["base"]["ioip"], "best_ioip": best["ioip"], "dtne_at_best": best["dtne"]})
    with atomic_dir(out_dir) as tmp:
        (tmp / EVALUATION_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def report_and_track(
    evaluation_dirs: list[str], model_dirs: list[str], sim_dir: str, report_path: str, out_dir: str
) -> dict:
    evaluations = {}
    for folder in evaluation_dirs:
        result = json.loads((Path(folder) / EVALUATION_FILE).read_text(encoding="utf-8"))
        evaluations[result["policy"]] = result
    order = [name for name in ("nirec", "independent", "mf", "random") if name in evaluations]
    evaluations = {name: evaluations[name] for name in order}
    estimators = [json.loads((Path(d) / core.INFO_FILE).read_text(encoding="utf-8")) for d in model_dirs]
    with atomic_dir(out_dir) as tmp:
        text = render(evaluations, estimators, store.read_stats(sim_dir), tmp / "ioip_dtne.png")
        (tmp / "results.json").write_text(json.dumps(evaluations, indent=2) + "\n", encoding="utf-8")
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(text, encoding="utf-8")
    mlflow.log_text(text, "report.md")
    mlflow.log_artifact(str(Path(out_dir) / "ioip_dtne.png"))
    best = max(evaluations["nirec"]["curve"], key=lambda r: r["ioip"])
    return {"nirec_best_ioip": best["ioip"], "nirec_best_dtne": best["dtne"]}
