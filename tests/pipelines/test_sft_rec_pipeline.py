"""The sft-rec pipeline through KFP's local runner with reduced settings (few users, few steps)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.local import run_local

REDUCED = {
    "sasrec_epochs": 6,
    "sasrec_eval_every": 3,
    "sft_max_examples": 96,
    "sft_epochs": 1.0,
    "sft_vocab_size": 1024,
    "eval_users": 60,
    "eval_max_new_tokens": 8,
}
KEYS = {"hr_1", "hr_5", "hr_10", "ndcg_5", "ndcg_10", "mrr", "valid_ratio", "hallucination_rate", "avg_pop"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    return run_local(catalog.get("sft-rec"), REDUCED, tmp_path_factory.mktemp("sftrec") / "runs")


def test_every_model_is_evaluated_and_tracked(run) -> None:
    client = mlflow.MlflowClient(default_tracking_uri(run.workdir))
    experiment = client.get_experiment_by_name("sft-rec")
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{run.parent_run_id}'")
    steps = {r.data.tags["recforge.step"]: r for r in children}
    assert set(steps) == {
        "prepare-dataset", "resolve-base-model", "train-popularity", "train-sasrec", "train-sft",
        "evaluate-popularity", "evaluate-sasrec", "evaluate-sft", "evaluate-untuned", "compare-models",
    }  # fmt: skip
    assert all(r.info.status == "FINISHED" for r in children)
    for name in ("popularity", "sasrec", "sft", "untuned"):
        evaluation = steps[f"evaluate-{name}"]
        assert evaluation.data.tags["recforge.model"] == name
        assert KEYS <= set(evaluation.data.metrics)
        assert evaluation.data.metrics["users"] == 60
    assert steps["evaluate-popularity"].data.metrics["hr_10"] > 0.6
    sft = steps["train-sft"]
    assert sft.data.metrics["eval_loss"] < sft.data.metrics["initial_eval_loss"]
    assert sft.data.params["base_model"] == "tiny" and sft.data.params["sft_max_examples"] == "96"
    assert "recforge.output.model.digest" in sft.data.tags
    assert run.metrics["popularity.hr_10"] == steps["evaluate-popularity"].data.metrics["hr_10"]


def test_report_compares_all_models(run) -> None:
    text = Path(run.outputs["report"]).read_text()
    for name in ("popularity", "sasrec", "sft", "untuned", "random (expected)"):
        assert f"| {name} |" in text
    assert "60 users, 20 candidates each" in text
    assert (Path(run.outputs["sft_model"]) / "model" / "model.safetensors").is_file()


def test_the_base_model_artifact_feeds_training_and_the_untuned_evaluation(run) -> None:
    import hashlib

    from components.common.lineage import format_lineage, lineage

    uri = default_tracking_uri(run.workdir)
    chain = lineage(run.parent_run_id, uri)
    steps = {step.name: step for step in chain.steps}
    resolve = steps["resolve-base-model"]
    digest = resolve.outputs["base-model"]["digest"]
    assert digest == hashlib.sha256(b"tiny").hexdigest()[:16] and resolve.params == {"base_model": "tiny"}
    trained_from = {ref.name: ref for ref in steps["train-sft"].inputs}["base-model"]
    assert trained_from.digest == digest and trained_from.produced_by == resolve.run_id
    evaluated = {ref.name: ref for ref in steps["evaluate-untuned"].inputs}["untuned"]
    assert evaluated.digest == resolve.outputs["model"]["digest"] and evaluated.produced_by == resolve.run_id
    assert "base-model digest" in format_lineage(chain) and "<- output of resolve-base-model" in format_lineage(chain)


def test_the_kfp_ui_gets_each_evaluations_metrics_and_an_html_report(run) -> None:
    from tests.pipelines.kfp_artifacts import run_folder, task_artifact

    folder = run_folder(run.outputs["report"])
    seen = set()
    for task in ("evaluate-model", "evaluate-model-2", "evaluate-model-3", "evaluate-model-4"):
        model = task_artifact(folder, task, "evaluation")["metadata"]["model"]
        shown = task_artifact(folder, task, "metrics")["metadata"]
        assert shown["hr_10"] == pytest.approx(run.metrics[f"{model}.hr_10"])
        assert {"hr_1", "hr_5", "ndcg_10", "mrr", "valid_ndcg_10"} <= set(shown)
        assert all(isinstance(v, float) for v in shown.values())
        seen.add(model)
    assert seen == {"popularity", "sasrec", "sft", "untuned"}
    html = Path(task_artifact(folder, "compare-models", "html")["uri"]).read_text()
    assert html.startswith("<!doctype html>") and "<table>" in html and "<td>popularity</td>" in html
