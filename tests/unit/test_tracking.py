"""MLflow tracking: nested step runs under the parent from the environment, datasets with digests, lineage."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from components.common import tracking
from components.common.errors import DataError
from components.common.lineage import format_lineage, lineage


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = tracking.default_tracking_uri(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def test_step_runs_nest_under_the_parent_from_the_environment(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = tracking.start_parent_run("demo", {"seed": 3}, store)
    monkeypatch.setenv("MLFLOW_RUN_ID", parent)
    with tracking.step_run("demo", "first", {"alpha": 0.5}, kfp_run_id="kfp-1"):
        tracking.log_dataset("raw", "/data/raw", "d1", context="source")
        tracking.log_output("table", "/out/table", "d2")
        tracking.log_flat_metrics({"rows": 10, "splits": {"test": {"rows": 4}}, "name": "x", "ok": True})
    with tracking.step_run("demo", "second", {}, kfp_run_id="kfp-1"):
        tracking.log_dataset("table", "/out/table", "d2", context="training")
        tracking.log_output("model", "/out/model", "d3")
    tracking.end_run(parent, "FINISHED", store)

    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name("demo")
    assert experiment.artifact_location.startswith("file://") and "mlartifacts" in experiment.artifact_location
    children = client.search_runs([experiment.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")
    first = next(r for r in children if r.data.tags["recforge.step"] == "first")
    assert first.data.params == {"alpha": "0.5"}
    assert first.data.metrics == {"rows": 10.0, "splits_test_rows": 4.0}
    assert first.data.tags["recforge.pipeline"] == "demo" and first.data.tags["recforge.kfp_run_id"] == "kfp-1"
    dataset = first.inputs.dataset_inputs[0]
    assert (dataset.dataset.name, dataset.dataset.digest) == ("raw", "d1")

    info = lineage(parent, store)
    assert [s.name for s in info.steps] == ["first", "second"]
    assert info.steps[1].inputs[0].produced_by == first.info.run_id
    second = next(r for r in children if r.data.tags["recforge.step"] == "second")
    chain = lineage(second.info.run_id, store)
    assert [s.name for s in chain.steps] == ["first", "second"]  # walked back through the digest d2
    text = format_lineage(info)
    assert "in  source: raw digest d1 from /data/raw" in text
    assert "in  training: table digest d2 from /out/table <- output of first" in text
    assert "out model: digest d3 at /out/model" in text


def test_failed_step_is_marked_with_its_message(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = tracking.start_parent_run("demo", {}, store)
    monkeypatch.setenv("MLFLOW_RUN_ID", parent)
    with pytest.raises(DataError), tracking.step_run("demo", "broken", {}):
        raise DataError("ratings.csv", "bad", line=3)
    client = mlflow.MlflowClient(store)
    run = client.search_runs([client.get_experiment_by_name("demo").experiment_id], "tags.`recforge.step` = 'broken'")[
        0
    ]
    assert run.info.status == "FAILED"
    assert run.data.tags["recforge.error"] == "ratings.csv line 3: bad"


def test_without_a_parent_run_the_step_finds_or_creates_one_per_kfp_run(store: str) -> None:
    for step in ("a", "b"):
        with tracking.step_run("cluster", step, {}, kfp_run_id="run-42"):
            pass
    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name("cluster").experiment_id
    parents = client.search_runs([experiment], "tags.`recforge.kfp_run_id` = 'run-42' and tags.`recforge.step` IS NULL")
    assert len(parents) == 1
    children = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parents[0].info.run_id}'")
    assert sorted(r.data.tags["recforge.step"] for r in children) == ["a", "b"]


def test_lineage_of_an_unknown_run(store: str) -> None:
    tracking.ensure_experiment("demo", store)
    with pytest.raises(Exception, match="lineage: no MLflow run 'nope'"):
        lineage("nope", store)
