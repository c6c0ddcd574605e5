"""Choosing the best evaluated model and registering it in the MLflow model registry with lineage tags.

The choice reads the valid split (`valid_<selection_metric>`, ranked by the evaluate step on a seeded sample of
valid rows); the test split only reports, so the registered model's test numbers are not selected on.

The chosen model is logged with MLflow's transformers flavor (an MLflow 3 LoggedModel: weights, tokenizer, task
text-generation, pinned requirements), so `mlflow.transformers.load_model("models:/<name>@champion")` or
`mlflow.pyfunc.load_model(...)` serves it; its registry version carries the alias `champion` (moved from the
version that held it, named in the tag `recforge.replaced_champion`). The version's tags point back to the runs
and data it came from: the run that trained it, the run that evaluated it, the pipeline's parent run and the
prepared dataset's digest; `recforge lineage name` (the champion), `name@alias` or `name/version` follows them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow

from components.common.atomic import atomic_file
from components.common.errors import DataError
from components.recsys.comparison import load_results, render_comparison

LINEAGE_FILE = "lineage.json"
CHAMPION = "champion"


def log_transformers_model(model_dir: Path, metadata: dict[str, str]) -> Any:
    """The HF model folder as an MLflow transformers-flavor model of the active run (task text-generation);
    returns MLflow's ModelInfo. Loaded into memory first: MLflow's from-a-folder path does not support this
    transformers release."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    components = {
        "model": AutoModelForCausalLM.from_pretrained(model_dir),
        "tokenizer": AutoTokenizer.from_pretrained(model_dir),
    }
    requirements = [f"transformers=={transformers.__version__}", f"torch=={torch.__version__.split('+')[0]}"]
    return mlflow.transformers.log_model(
        components, name="model", task="text-generation", pip_requirements=requirements, metadata=metadata
    )


def register_champion(client: mlflow.MlflowClient, model_uri: str, name: str, tags: dict[str, str]) -> Any:
    """Register `model_uri` as a new version of `name` and move the champion alias to it; returns the version."""
    try:
        previous = str(client.get_model_version_by_alias(name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        previous = ""
    version = mlflow.register_model(model_uri, name, tags={**tags, "recforge.replaced_champion": previous})
    client.set_registered_model_alias(name, CHAMPION, version.version)
    return version


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
    logged = log_transformers_model(model_dir / "model", {"recforge_model": best["model"]})
    version = register_champion(client, logged.model_uri, registered_name, tags)
    text = render_comparison([(r["model"], r) for r in results], title=f"Alignment comparison ({registered_name})")
    text += (
        f"\nBest by {selection_metric} on the valid split: **{best['model']}** (valid {best['metrics'][on_valid]:.4f},"
        f" test {best['metrics'][selection_metric]:.4f}), registered as `{registered_name}`"
        f" version {version.version}, alias `{CHAMPION}`: `models:/{registered_name}@{CHAMPION}`.\n"
    )
    with atomic_file(report_path) as handle:
        handle.write(text)
    mlflow.log_text(text, "alignment_comparison.md")
    mlflow.log_metric(f"best_{on_valid}", best["metrics"][on_valid])
    mlflow.log_metric(f"best_{selection_metric}", best["metrics"][selection_metric])
    mlflow.set_tags({"recforge.registered_model": registered_name, "recforge.registered_version": str(version.version)})
    return {"best": best["model"], "version": int(version.version), "model_uri": logged.model_uri, **tags}
