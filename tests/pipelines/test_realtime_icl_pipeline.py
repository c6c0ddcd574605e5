"""The realtime-icl pipeline through KFP's local runner with reduced settings, and its scheduled-run behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.local import run_local

REDUCED = {
    "icl_max_examples": 48,
    "icl_eval_queries": 30,
    "icl_windows": 2,
    "icl_history_len": 5,
    "sft_batch_size": 8,
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    return run_local(catalog.get("realtime-icl"), REDUCED, tmp_path_factory.mktemp("icl") / "runs")


def test_auc_per_window_for_every_model(run) -> None:
    client = mlflow.MlflowClient(default_tracking_uri(run.workdir))
    experiment = client.get_experiment_by_name("realtime-icl").experiment_id
    children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{run.parent_run_id}'")
    models = {r.data.tags["recforge.model"]: r for r in children if "recforge.model" in r.data.tags}
    assert set(models) == {"recicl", "recicl-no-demos", "sft", "retrained", "untuned"}
    for name, model_run in models.items():
        history = client.get_metric_history(model_run.info.run_id, "auc")
        assert sorted(m.step for m in history) == [1, 2], name  # step = window index
        assert all(0.0 <= m.value <= 1.0 for m in history)
    evaluation = next(r for r in children if r.data.tags.get("recforge.step") == "evaluate-realtime")
    artifacts = {a.path for a in client.list_artifacts(evaluation.info.run_id)}
    assert {"auc_per_window.png", "report.md"} <= artifacts
    report = Path(run.outputs["report"]).read_text()
    assert "| recicl |" in report and "| retrained |" in report and "| untuned |" in report and "window 2" in report
    info = json.loads((Path(run.outputs["models"]) / "recicl" / "model.json").read_text())
    assert info["kind"] == "icl" and info["demos"] == 4 and info["chat"] is False  # tiny has no chat template
    # the KFP UI: mean AUC per model, RecICL's ROC curve, the report as HTML with the plot embedded
    from tests.pipelines.kfp_artifacts import run_folder, task_artifact

    folder = run_folder(run.outputs["report"])
    shown = task_artifact(folder, "evaluate-realtime", "metrics")["metadata"]
    recicl = [m.value for m in client.get_metric_history(models["recicl"].info.run_id, "auc")]
    assert shown["recicl_auc"] == pytest.approx(sum(recicl) / len(recicl))
    roc = task_artifact(folder, "evaluate-realtime", "roc")["metadata"]["confidenceMetrics"]
    fpr, tpr = [r["falsePositiveRate"] for r in roc], [r["recall"] for r in roc]
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0) and fpr == sorted(fpr)
    html = Path(task_artifact(folder, "evaluate-realtime", "html")["uri"]).read_text()
    assert "<td>recicl</td>" in html and html.count("data:image/png;base64,") == 1


def test_a_scheduled_run_reuses_the_model_and_never_retrains(run, tmp_path: Path) -> None:
    models = Path(run.outputs["models"])
    again = run_local(
        catalog.get("realtime-icl"),
        {**REDUCED, "icl_model_dir": str(models), "retrain": False, "as_of": "2018-06-01T00:00:00Z"},
        tmp_path / "runs",
    )
    client = mlflow.MlflowClient(default_tracking_uri(again.workdir))
    experiment = client.get_experiment_by_name("realtime-icl").experiment_id
    steps = {r.data.tags.get("recforge.step"): r for r in client.search_runs([experiment])}
    train = steps["train-recicl"]
    assert train.data.tags["recforge.reused_model"] == str(models)
    assert "recicl_eval_loss" not in train.data.metrics  # nothing was trained
    assert train.data.params["effective_as_of"] == "1527811200"
    assert not any(name and name.startswith("evaluate-realtime-retrained") for name in steps)
    assert (Path(again.outputs["models"]) / "recicl" / "model.json").read_bytes() == (
        models / "recicl" / "model.json"
    ).read_bytes()
