"""What the real-time evaluation records in MLflow: one run per model (tag recforge.model) with `auc` and `uauc`
at step = window index, the report and the AUC plot."""

from __future__ import annotations

import math
from pathlib import Path

import mlflow
import numpy as np

from components.common import tracking
from components.common.base_model import read_reference
from components.evaluate.realtime import evaluate_realtime
from components.recsys.icl_config import ICLConfig, effective_as_of


def realtime_and_track(
    icl: ICLConfig,
    dataset_dir: str | Path,
    models_dir: str | Path,
    retrained_dir: str | Path,
    base_dir: str | Path,
    out_dir: str | Path,
    schedule_time: str,
) -> dict:
    tracking.log_prepared(dataset_dir, context="test")
    tracking.log_base_model(read_reference(base_dir))
    icl = effective_as_of(icl, schedule_time)
    summary = evaluate_realtime(
        dataset_dir, icl, Path(models_dir) / "recicl", Path(models_dir) / "sft", retrained_dir, out_dir, base_dir
    )
    step = mlflow.active_run()
    client = mlflow.MlflowClient()
    parent = step.data.tags.get("mlflow.parentRunId", step.info.run_id)
    for name, rows in summary["results"].items():
        run = client.create_run(
            step.info.experiment_id,
            run_name=f"realtime-{name}",
            tags={
                "mlflow.parentRunId": parent,
                "recforge.model": name,
                "recforge.step": f"evaluate-realtime-{name}",
                "recforge.pipeline": step.data.tags.get("recforge.pipeline", ""),
            },
        )
        for row in rows:
            client.log_metric(run.info.run_id, "auc", row["auc"], step=row["window"])
            if not math.isnan(row["uauc"]):
                client.log_metric(run.info.run_id, "uauc", row["uauc"], step=row["window"])
        client.set_terminated(run.info.run_id)
    mlflow.log_artifact(str(Path(out_dir) / "auc_per_window.png"))
    mlflow.log_artifact(str(Path(out_dir) / "report.md"))
    for note in summary["skipped"]:
        mlflow.set_tag(f"recforge.skipped.{note.split(':')[0].replace(' ', '_')}", note)
    return {
        "models": list(summary["results"]),
        "skipped": len(summary["skipped"]),
        "scalars": window_means(summary["results"]),
        "roc": summary["roc"],
    }


def window_means(results: dict[str, list[dict]]) -> dict[str, float]:
    """`<model>_auc` and `<model>_uauc`: each model's mean over the windows it was scored on (UAUC where defined)."""
    means: dict[str, float] = {}
    for name, rows in results.items():
        key = name.replace("-", "_")
        means[f"{key}_auc"] = float(np.mean([row["auc"] for row in rows]))
        defined = [row["uauc"] for row in rows if not math.isnan(row["uauc"])]
        if defined:
            means[f"{key}_uauc"] = float(np.mean(defined))
    return means
