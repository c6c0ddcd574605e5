"""What the evaluate and report steps record in MLflow: the metric keys of the field, tagged by model."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import mlflow

from components.common import tracking
from components.evaluate.config import EvalConfig
from components.evaluate.core import evaluate
from components.recsys.comparison import load_results, render_comparison


def evaluate_and_track(
    model_name: str, model_dir: str | Path, dataset_dir: str | Path, config: EvalConfig, out_dir: str | Path
) -> dict:
    tracking.log_prepared(dataset_dir, context=config.eval_split)
    tracking.log_model_input(model_name, model_dir)
    mlflow.set_tag("recforge.model", model_name)
    result = evaluate(model_dir, dataset_dir, config, out_dir)
    result["model"] = model_name
    result["run_id"] = mlflow.active_run().info.run_id
    (Path(out_dir) / "metrics.json").write_text(json.dumps(result, indent=2))
    mlflow.log_metrics(result["metrics"])
    mlflow.log_metric("users", result["users"])
    mlflow.log_artifact(str(Path(out_dir) / "metrics.json"))
    return result


def compare_and_track(evaluations: Sequence[str | Path], report_path: str | Path, title: str) -> str:
    from components.common.atomic import atomic_file

    results = load_results(evaluations)
    text = render_comparison([(r.get("model", r["kind"]), r) for r in results], title=title)
    with atomic_file(report_path) as handle:
        handle.write(text)
    mlflow.log_text(text, "model_comparison.md")
    return text
