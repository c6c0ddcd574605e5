"""Choosing the best evaluated model and registering it in the MLflow model registry with lineage tags.

The choice reads the valid split (`valid_<selection_metric>`, ranked by the evaluate step on a seeded sample of
valid rows); the test split only reports, so the registered model's test numbers are not selected on.

The version's tags point back to the runs and data it came from: the run that trained it, the run that
evaluated it, the pipeline's parent run and the prepared dataset's digest; `recforge lineage name/version`
follows them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import mlflow

from components.common.atomic import atomic_file
from components.common.errors import DataError
from components.recsys.comparison import load_results, render_comparison

LINEAGE_FILE = "lineage.json"


def _output_digest(client: mlflow.MlflowClient, run_id: str) -> str:
    if not run_id:
        return ""
    return client.get_run(run_id).data.tags.get("recforge.output.model.digest", "")


def model_name_of(model_dir: Path) -> str:
    info = json.loads((model_dir / "model.json").read_text())
    return info.get("aligned_with", "sft")


def compare_and_register(
    evaluations: Sequence[str | Path],
    models: Sequence[str | Path],
    dataset_dir: str | Path,
    registered_name: str,
    selection_metric: str,
    report_path: str | Path,
) -> dict:
    results = load_results(evaluations)
    by_name = {model_name_of(Path(m)): Path(m) for m in models}
    missing = [r["model"] for r in results if r["model"] not in by_name]
    if missing:
        raise DataError(str(models[0]), f"no model folder for evaluated model(s) {', '.join(missing)}")
    if any(selection_metric not in r["metrics"] for r in results):
        raise DataError(
            "metrics.json", f"no metric {selection_metric!r}; expected one of {', '.join(results[0]['metrics'])}"
        )
    on_valid = f"valid_{selection_metric}"
    if any(on_valid not in r["metrics"] for r in results):
        raise DataError(
            "metrics.json",
            f"no metric {on_valid!r} to select on; expected evaluations with eval_valid_ranking=true (eval_split=test)",
        )
    best = max(results, key=lambda r: r["metrics"][on_valid])
    model_dir = by_name[best["model"]]
    trained = json.loads((model_dir / LINEAGE_FILE).read_text()) if (model_dir / LINEAGE_FILE).is_file() else {}
    stats = json.loads((Path(dataset_dir) / "stats.json").read_text())
    run = mlflow.active_run()
    mlflow.log_artifacts(str(model_dir / "model"), "model")
    client = mlflow.MlflowClient()
    try:
        client.get_registered_model(registered_name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(registered_name, description="recforge LLM recommender")
    tags = {
        "recforge.model": best["model"],
        "recforge.selection_metric": on_valid,
        "recforge.selection_value": f"{best['metrics'][on_valid]:.6f}",
        "recforge.test_value": f"{best['metrics'][selection_metric]:.6f}",
        "recforge.pipeline": run.data.tags.get("recforge.pipeline", ""),
        "recforge.parent_run": run.data.tags.get("mlflow.parentRunId", ""),
        "recforge.register_run": run.info.run_id,
        "recforge.train_run": trained.get("run_id", ""),
        "recforge.model_digest": _output_digest(client, trained.get("run_id", "")),
        "recforge.eval_run": best.get("run_id", ""),
        "recforge.dataset": stats["dataset"],
        "recforge.dataset_digest": stats["digest"],
    }
    version = client.create_model_version(
        registered_name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id, tags=tags
    )
    text = render_comparison([(r["model"], r) for r in results], title=f"Alignment comparison ({registered_name})")
    text += (
        f"\nBest by {selection_metric} on the valid split: **{best['model']}** (valid {best['metrics'][on_valid]:.4f},"
        f" test {best['metrics'][selection_metric]:.4f}), registered as `{registered_name}`"
        f" version {version.version}.\n"
    )
    with atomic_file(report_path) as handle:
        handle.write(text)
    mlflow.log_text(text, "alignment_comparison.md")
    mlflow.log_metric(f"best_{on_valid}", best["metrics"][on_valid])
    mlflow.log_metric(f"best_{selection_metric}", best["metrics"][selection_metric])
    mlflow.set_tags({"recforge.registered_model": registered_name, "recforge.registered_version": str(version.version)})
    return {"best": best["model"], "version": int(version.version), **tags}
