"""MLflow's server on a real PostgreSQL (Debian's package, started here as the cluster runs it): the rec-alignment
fan-out tracked through it, and 8 concurrent writer processes x 500 metrics each with no metric lost or doubled.
The figures are printed for the README's reliability section."""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from conftest import REC_ALIGNMENT_REDUCED
from servers import free_port, postgres_bin, start_mlflow_server, start_postgres, stop

from pipelines import catalog
from pipelines.local import run_local

WRITERS, METRICS = 8, 500
FAN_OUT = {**REC_ALIGNMENT_REDUCED, "eval_users": 8, "sasrec_epochs": 2, "sft_max_examples": 32, "pref_pairs": 12,
           "pref_eval_pairs": 4}  # fmt: skip  # two losses still fan out; the pipeline test covers the learning


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    if postgres_bin() is None:  # part of the machines' base image here and in CI; a laptop may lack it
        pytest.skip("PostgreSQL's server programs are not installed (Debian: apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="recforge-pg-"))  # not under pytest's root-only tmp: postgres must enter
    root.chmod(0o755)
    uri, database = start_postgres(root / "pg", free_port())
    port = free_port()
    mlflow_server = start_mlflow_server(root / "mlflow", port, backend=uri)
    yield f"http://127.0.0.1:{port}"
    stop(mlflow_server)
    stop(database)
    shutil.rmtree(root, ignore_errors=True)


def _writer(url: str, index: int, start: multiprocessing.Event, out: multiprocessing.Queue) -> None:
    client = mlflow.MlflowClient(url)
    experiment = client.get_experiment_by_name("stress")
    run_id = client.create_run(experiment.experiment_id, run_name=f"writer-{index}").info.run_id
    start.wait()
    began = time.perf_counter()
    for step in range(METRICS):
        client.log_metric(run_id, "value", float(index * METRICS + step), step=step)
    client.set_terminated(run_id)
    out.put((index, run_id, time.perf_counter() - began))


def test_eight_concurrent_writers_lose_and_double_nothing(server: str) -> None:
    mlflow.MlflowClient(server).create_experiment("stress")
    context = multiprocessing.get_context("spawn")
    start, out = context.Event(), context.Queue()
    writers = [context.Process(target=_writer, args=(server, i, start, out)) for i in range(WRITERS)]
    for writer in writers:
        writer.start()
    time.sleep(3)  # every writer has its run
    began = time.perf_counter()
    start.set()
    results = [out.get(timeout=600) for _ in writers]
    wall = time.perf_counter() - began
    for writer in writers:
        writer.join(timeout=60)
        assert writer.exitcode == 0
    client = mlflow.MlflowClient(server)
    for index, run_id, _ in results:
        history = client.get_metric_history(run_id, "value")
        assert len(history) == METRICS
        assert sorted(m.step for m in history) == list(range(METRICS))
        assert sorted(m.value for m in history) == [float(index * METRICS + s) for s in range(METRICS)]
        assert client.get_run(run_id).info.status == "FINISHED"
    total = WRITERS * METRICS
    print(f"\npostgres stress: {WRITERS} writers x {METRICS} metrics = {total} in {wall:.1f}s, {total / wall:.0f}/s")


def test_the_rec_alignment_fan_out_tracks_into_postgres(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    began = time.perf_counter()
    result = run_local(catalog.get("rec-alignment"), FAN_OUT, tmp_path / "runs")
    seconds = time.perf_counter() - began
    client = mlflow.MlflowClient(server)
    experiment = client.get_experiment_by_name("rec-alignment")
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{result.parent_run_id}'")
    steps = {r.data.tags["recforge.step"]: r for r in children}
    expected = {"train-sft", "build-preferences", "align-dpo", "align-alpha_dpo", "evaluate-dpo", "register-best"}
    assert expected <= set(steps) and all(r.info.status == "FINISHED" for r in children)
    assert client.get_run(result.parent_run_id).info.status == "FINISHED"
    histories = 0
    for run in children:
        for key in run.data.metrics:
            history = client.get_metric_history(run.info.run_id, key)
            steps_logged = [(m.step, m.timestamp) for m in history]
            assert len(steps_logged) == len(set(steps_logged)), f"{run.data.tags['recforge.step']}.{key} doubled"
            histories += 1
    for loss in ("dpo", "alpha_dpo"):
        assert {"hr_10", "ndcg_10", "valid_ratio"} <= set(steps[f"evaluate-{loss}"].data.metrics)
    print(f"\npostgres fan-out: {len(children)} step runs, {histories} metric histories, {seconds:.0f}s")
