"""The kg-embedding pipeline (NFE beside PyKEEN) through KFP's local runner on a slice of the real WN18RR (its
first 3,000 training triples and the valid/test triples among their entities), with reduced settings: every model
trained and ranked, one MLflow run per model tagged `recforge.model` with the filtered metrics, the report."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from conftest import write_wn18rr_slice

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.local import run_local

REDUCED = {
    "models": ["nfe-1", "pykeen-distmult"],
    "kge_epochs": 2,
    "kge_dim": 8,
    "kge_pykeen_negatives": 4,
    "kge_check_evaluator": True,
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("kge")
    kg = write_wn18rr_slice(root / "wn18rr-slice")
    return run_local(catalog.get("kg-embedding"), {**REDUCED, "kg_data_dir": str(kg)}, root / "runs")


def test_every_model_is_trained_ranked_and_tracked(run) -> None:
    client = mlflow.MlflowClient(default_tracking_uri(run.workdir))
    experiment = client.get_experiment_by_name("kg-embedding")
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{run.parent_run_id}'")
    assert all(r.info.status == "FINISHED" for r in children)
    steps = {r.data.tags["recforge.step"] for r in children}
    assert {"prepare-kg", "train-nfe-1", "train-pykeen-distmult", "evaluate-kge-model", "report-kge"} <= steps
    evaluated = {r.data.tags["recforge.model"]: r for r in children if r.data.tags["recforge.step"].startswith("eval")}
    assert set(evaluated) == {"nfe-1", "pykeen-distmult"}
    for model in evaluated.values():
        metrics = model.data.metrics
        assert 0 <= metrics["hits_1"] <= metrics["hits_3"] <= metrics["hits_10"] <= 1
        assert metrics["hits_1"] <= metrics["mrr"] <= 1 and metrics["mr"] >= 1
    # PyKEEN's model: PyKEEN's own evaluator reported, ours beside it on the same model, equal.
    assert evaluated["pykeen-distmult"].data.metrics["evaluator_gap_mrr"] < 1e-6
    trained = next(r for r in children if r.data.tags["recforge.step"] == "train-nfe-1")
    curve = client.get_metric_history(trained.info.run_id, "valid_mrr")
    assert [m.step for m in curve] == [1, 2]
    assert trained.data.tags["recforge.model"] == "nfe-1"
    assert run.metrics["nfe-1.mrr"] == evaluated["nfe-1"].data.metrics["mrr"]


def test_report_and_results_hold_every_model(run) -> None:
    report = Path(run.outputs["report"]).read_text(encoding="utf-8")
    assert "| nfe-1 |" in report and "| pykeen-distmult |" in report
    assert "3,000 / " in report  # the slice's training triples
    results_dir = next(Path(run.workdir).rglob("report-kge/comparison"))
    rows = json.loads((results_dir / "results.json").read_text(encoding="utf-8"))
    assert {row["model"] for row in rows} == {"nfe-1", "pykeen-distmult"}
    assert (results_dir / "valid_mrr.png").stat().st_size > 1000
