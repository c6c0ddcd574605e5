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
    monkeypatch.setenv("RECFORGE_PARENT_RUN_ID", parent)
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
    monkeypatch.setenv("RECFORGE_PARENT_RUN_ID", parent)
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


def test_a_task_run_from_the_backend_is_logged_into_not_nested_under(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """KFP's MLflow integration creates one run per task and names it in MLFLOW_RUN_ID: the step logs there."""
    client = mlflow.MlflowClient(store)
    experiment = tracking.ensure_experiment("demo", store)
    parent = client.create_run(experiment, run_name="kfp-run").info.run_id
    task = client.create_run(experiment, run_name="train-sft", tags={"mlflow.parentRunId": parent}).info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", task)
    with tracking.step_run("demo", "train-sft", {"lr": 0.1}, kfp_run_id="kfp-7") as active:
        assert active.info.run_id == task
        mlflow.log_metric("loss", 0.5)
    runs = client.search_runs([experiment])
    assert sorted(r.info.run_id for r in runs) == sorted([parent, task])  # nothing nested under the task
    done = client.get_run(task)
    assert done.data.params == {"lr": "0.1"} and done.data.metrics == {"loss": 0.5}
    assert done.data.tags["recforge.step"] == "train-sft" and done.data.tags["mlflow.parentRunId"] == parent
    assert done.data.tags["recforge.kfp_run_id"] == "kfp-7" and done.info.status == "FINISHED"
    import os

    assert os.environ["MLFLOW_RUN_ID"] == task  # as the backend set it


def test_in_a_pod_a_missing_tracking_uri_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from components.common.errors import ConfigError

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^MLFLOW_TRACKING_URI: not set in this pod; expected the MLflow server"):
        with tracking.step_run("demo", "x", {}):
            pass
    assert not (tmp_path / "mlflow.db").exists()  # no store left inside the pod


def test_lineage_finds_a_producer_beyond_the_first_page_of_runs(store: str) -> None:
    """MLflow returns at most 1,000 runs per search page; the producer here is the 1,051st newest step run."""
    client = mlflow.MlflowClient(store)
    experiment = tracking.ensure_experiment("crowded", store)
    made = {"recforge.step": "prepare", "recforge.output.data.digest": "d-first", "recforge.output.data.uri": "/d"}
    producer = client.create_run(experiment, start_time=1, tags=made)
    for index in range(1050):
        client.create_run(experiment, start_time=10 + index, tags={"recforge.step": f"noise-{index}"})
    consumer = client.create_run(experiment, start_time=5000, tags={"recforge.step": "train"})
    mlflow.set_tracking_uri(store)
    with mlflow.start_run(run_id=consumer.info.run_id):
        tracking.log_dataset("data", "/d", "d-first", context="training")
    client.set_tag(consumer.info.run_id, "mlflow.parentRunId", producer.info.run_id)
    chain = lineage(consumer.info.run_id, store)
    assert [s.run_id for s in chain.steps] == [producer.info.run_id, consumer.info.run_id]
    assert chain.steps[1].inputs[0].produced_by == producer.info.run_id


@pytest.mark.parametrize(("state", "status"), [("SUCCEEDED", "FINISHED"), ("FAILED", "FAILED"), ("CANCELED", "KILLED")])
def test_the_exit_handler_closes_the_parent_run_with_the_final_state(store: str, state: str, status: str) -> None:
    from components.close_run.body import close_parent_run

    with tracking.step_run("cluster", "train", {}, kfp_run_id="kfp-9"):
        pass
    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name("cluster").experiment_id
    parent = tracking.find_parent(client, [experiment], "kfp-9")
    assert parent.info.status == "RUNNING"  # what stayed forever before the exit handler
    assert close_parent_run("kfp-9", state, "train: out of memory", uri=store) == parent.info.run_id
    closed = client.get_run(parent.info.run_id)
    assert closed.info.status == status and closed.data.tags["recforge.kfp_state"] == state
    assert closed.data.tags.get("recforge.error") == (None if status == "FINISHED" else "train: out of memory")
    assert close_parent_run("another-run", state, uri=store) is None


def test_steps_log_system_metrics_when_the_pod_asks(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a GPU step's pod sets (pipelines/accelerators.py): MLflow samples CPU, memory (and GPUs) itself."""
    import time

    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING", "1")
    with tracking.step_run("demo", "train", {}, kfp_run_id="") as active:
        time.sleep(2.5)
    metrics = mlflow.MlflowClient(store).get_run(active.info.run_id).data.metrics
    assert "system/cpu_utilization_percentage" in metrics and "system/system_memory_usage_megabytes" in metrics


def test_a_new_registration_takes_the_champion_alias(store: str, tmp_path: Path) -> None:
    from components.align.register import register_champion

    client = mlflow.MlflowClient(store)
    mlflow.set_tracking_uri(store)

    class Constant(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return model_input

    experiment = tracking.ensure_experiment("registry", store)  # artifacts beside the store, not in the cwd
    for index in range(2):
        with mlflow.start_run(experiment_id=experiment):
            logged = mlflow.pyfunc.log_model(name="model", python_model=Constant(), pip_requirements=[])
        version = register_champion(client, logged.model_uri, "rec", {"recforge.model": f"m{index}"})
        assert str(version.version) == str(index + 1)
    champion = client.get_model_version_by_alias("rec", "champion")
    assert str(champion.version) == "2" and champion.tags["recforge.replaced_champion"] == "1"
    assert client.get_model_version("rec", "1").aliases == []


def test_a_retried_pod_of_a_step_that_failed_on_bad_input_fails_at_once(
    store: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """KFP retries a failed pod whatever the cause; the retry of a RecforgeError repeats the message without
    running the body again or opening another MLflow run. Another KFP run of the same step runs normally."""
    from components.common.config import StepConfig
    from components.common.errors import TrackingUnavailable
    from components.common.step import run_step

    calls: list[str] = []

    def bad_input(*_: StepConfig) -> None:
        calls.append("bad")
        raise DataError("ratings.csv", "bad value", line=7)

    monkeypatch.setenv("KFP_RUN_ID", "run-7")
    for _attempt in range(2):
        with pytest.raises(SystemExit) as info:
            run_step("demo", "prepare", [], {}, bad_input)
        assert info.value.code == 2
    assert calls == ["bad"]
    err = capsys.readouterr().err
    assert "ratings.csv line 7: bad value (an earlier attempt failed with this; not retried)" in err
    client = mlflow.MlflowClient(store)
    experiment = client.get_experiment_by_name("demo").experiment_id
    steps = client.search_runs([experiment], "tags.`recforge.step` = 'prepare'")
    assert [r.info.status for r in steps] == ["FAILED"]

    def unreachable(*_: StepConfig) -> None:  # transient: a retry may succeed, so it runs again
        calls.append("down")
        raise TrackingUnavailable("http://mlflow:5000", "connection refused")

    monkeypatch.setenv("KFP_RUN_ID", "run-8")
    for _attempt in range(2):
        with pytest.raises(SystemExit):
            run_step("demo", "prepare", [], {}, unreachable)
    assert calls == ["bad", "down", "down"]


def test_local_builds_have_no_retries_cluster_builds_do() -> None:
    from pipelines import catalog
    from pipelines.settings import LOCAL, CompileSettings

    def retried(settings: CompileSettings) -> list[str]:
        spec = catalog.get("prepare-data").build(settings).pipeline_spec
        dags = [spec.root.dag, *(c.dag for c in spec.components.values() if c.HasField("dag"))]
        return sorted(name for dag in dags for name, task in dag.tasks.items() if task.retry_policy.max_retry_count)

    assert retried(LOCAL) == []
    assert retried(CompileSettings()) == ["close-pipeline-run", "data-report", "prepare-dataset"]


def test_an_error_that_is_not_ours_reaches_the_cli_as_one_line(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step's unexpected exception is still named, with its step, in one line (it once ended as KFP's
    'Inner task failed' with ANSI codes, the real error only in the step's stdout)."""
    from components.common.config import StepConfig
    from components.common.step import run_step
    from pipelines.local import _first_line, _step_error

    monkeypatch.setenv("RECFORGE_ERROR_DIR", str(tmp_path / "errors"))

    def broken(*_: StepConfig) -> None:
        raise ValueError("cannot reshape array of size 7\nsecond line of numpy's message")

    with pytest.raises(ValueError):
        run_step("demo", "train-thing", [], {}, broken)
    assert _step_error(tmp_path / "errors") == (
        "step train-thing: internal error: ValueError: cannot reshape array of size 7 "
        "(the step's log has the traceback)"
    )
    kfp_error = RuntimeError(
        "\x1b[91mTask 'train-thing' finished with status \x1b[91mFAILURE\x1b[0m\nInner task failed"
    )
    assert _first_line(kfp_error) == "Task 'train-thing' finished with status FAILURE"
