"""What the prompt-personalization steps record in MLflow (RPP, Mao et al., TOIS 2025): the inputs, the agents'
learning curve, and per method a run tagged `recforge.model` (rpp, rpp-plus, template-<k>, template-best, random)
holding NDCG@1/5/10 and the parse-failure rate of each ranking mode (`<mode>_ndcg_10`, ...; the training mode's
also unprefixed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow

from components.common import tracking
from components.common.base_model import BaseModelConfig, read_reference
from components.personalize_prompt import core
from components.personalize_prompt.config import RPPConfig
from components.personalize_prompt.report import render_report


def _world(config: RPPConfig, base: BaseModelConfig, base_dir: str, dataset_dir: str, sasrec_dir: str) -> Any:
    tracking.log_prepared(dataset_dir, context="training")
    tracking.log_model_input("sasrec", sasrec_dir)
    tracking.log_base_model(read_reference(base_dir, base.base_model))
    return core.load_world(config, dataset_dir, sasrec_dir, base.base_model)


def train_and_track(
    config: RPPConfig, base: BaseModelConfig, base_dir: str, dataset_dir: str, sasrec_dir: str, out_dir: str
) -> dict:
    world = _world(config, base, base_dir, dataset_dir, sasrec_dir)
    record = core.train(config, world, out_dir, on_epoch=lambda e, v: mlflow.log_metric("train_ndcg_10", v, step=e))
    digest = tracking.log_model_output("agents", out_dir)
    return {"digest": digest, "final_train_ndcg_10": record["training_curve"][-1]}


def evaluate_and_track(
    config: RPPConfig,
    base: BaseModelConfig,
    base_dir: str,
    dataset_dir: str,
    sasrec_dir: str,
    agents_dir: str,
    out_dir: str,
    report_path: str,
) -> dict:
    world = _world(config, base, base_dir, dataset_dir, sasrec_dir)
    tracking.log_model_input("agents", agents_dir)
    results = core.evaluate(config, world, core.load_agents(world, config, agents_dir), out_dir)
    training = json.loads((Path(agents_dir) / core.INFO_FILE).read_text(encoding="utf-8"))
    report = render_report(results, training)
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(report, encoding="utf-8")
    mlflow.log_text(report, "report.md")
    mlflow.log_dict(results, "results.json")
    _method_runs(results, config.rpp_mode)
    main = results["modes"].get(config.rpp_mode) or next(iter(results["modes"].values()))
    gap = main["rpp_minus_best_template_ndcg_10"]
    mlflow.log_metrics({"rpp_minus_best_template_ndcg_10": gap["mean"], "gap_low": gap["low"], "gap_high": gap["high"]})
    for pattern, probs in results["action_distribution"].items():  # each agent's mean policy, action by action
        mlflow.log_metrics({f"policy_{pattern}_{i}": p for i, p in enumerate(probs.values())})
    return {"rpp_ndcg_10": main["methods"]["rpp"]["ndcg_10"], "best_template": main["best_template_on_train"]}


def _method_runs(results: dict, training_mode: str) -> None:
    """One MLflow run per method, beside the step's run under the pipeline's parent run, as evaluations are."""
    active = mlflow.active_run()
    client = mlflow.MlflowClient()
    parent = active.data.tags.get(tracking.TAG_PARENT, active.info.run_id)
    names = next(iter(results["modes"].values()))["methods"]
    for method in names:
        tags = {
            tracking.TAG_PARENT: parent,
            tracking.TAG_PIPELINE: active.data.tags.get(tracking.TAG_PIPELINE, ""),
            tracking.TAG_STEP: f"evaluate-{method}",
            "recforge.model": method,
        }
        run = client.create_run(active.info.experiment_id, run_name=f"evaluate-{method}", tags=tags)
        for mode, part in results["modes"].items():
            for key, value in part["methods"][method].items():
                if isinstance(value, float):
                    client.log_metric(run.info.run_id, f"{mode}_{key}", value)
                    if mode == training_mode:
                        client.log_metric(run.info.run_id, key, value)
        client.set_terminated(run.info.run_id)
