"""The prepare-data pipeline through KFP's local runner and the `recforge` CLI, with a real MLflow store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pyarrow.parquet as pq
import pytest
from conftest import write_movielens_csv

from components.common.tracking import default_tracking_uri
from pipelines import catalog
from pipelines.cli import main
from pipelines.local import run_local


def _recforge(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        timeout=600,
    )


@pytest.fixture(scope="module")
def movielens_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    cwd = tmp_path_factory.mktemp("cli")
    done = _recforge(
        "run", "prepare-data", "--local", "--workdir", "runs",
        "--set", "dataset=movielens-latest-small", "--set", "num_negatives=9",
        cwd=cwd,
    )  # fmt: skip
    return cwd / "runs", done


def _runs(workdir: Path, experiment: str = "prepare-data") -> tuple[mlflow.MlflowClient, list]:
    client = mlflow.MlflowClient(default_tracking_uri(workdir))
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def test_cli_run_prepares_movielens_and_tracks_it(movielens_run: tuple[Path, subprocess.CompletedProcess]) -> None:
    workdir, done = movielens_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert "recforge: prepare-data finished" in done.stdout
    assert "users=610, catalogue_items=9742, interactions=100836" in done.stdout
    dataset_line = next(line for line in done.stdout.splitlines() if line.strip().startswith("output dataset:"))
    dataset_dir = Path(dataset_line.split(":", 1)[1].strip())
    assert dataset_dir.is_relative_to(workdir / "pipeline-root")
    test = pq.read_table(dataset_dir / "test.parquet")
    assert test.num_rows == 610 and all(len(c) == 10 for c in test["candidates"].to_pylist())
    stats = json.loads((dataset_dir / "stats.json").read_text())

    client, runs = _runs(workdir)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    steps = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert parents[0].data.params["dataset"] == "movielens-latest-small"
    assert parents[0].data.params["num_negatives"] == "9"
    assert [r.data.tags["recforge.step"] for r in steps] == ["prepare-dataset", "data-report"]
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in steps)
    assert all(r.info.status == "FINISHED" for r in steps)
    prep = steps[0]
    assert prep.data.params["num_negatives"] == "9" and prep.data.params["split"] == "leave-one-out"
    assert prep.data.metrics["users"] == 610 and prep.data.metrics["interactions"] == 100836
    assert prep.data.metrics["splits_test_rows"] == 610
    source = prep.inputs.dataset_inputs[0]
    assert source.dataset.name == "movielens-latest-small"
    assert source.dataset.digest == stats["source"]["digest"]
    assert prep.data.tags["recforge.output.prepared.digest"] == stats["digest"]
    artifacts = {a.path for a in client.list_artifacts(prep.info.run_id)}
    assert "stats.json" in artifacts
    report = steps[1]
    assert report.inputs.dataset_inputs[0].dataset.digest == stats["digest"]
    text = Path(client.download_artifacts(report.info.run_id, "data_report.md", str(workdir))).read_text()
    assert "| users | 610 |" in text


def test_lineage_prints_the_chain(movielens_run: tuple[Path, subprocess.CompletedProcess], capsys) -> None:
    workdir, _ = movielens_run
    _, runs = _runs(workdir)
    report_run = next(r for r in runs if r.data.tags.get("recforge.step") == "data-report")
    assert main(["lineage", report_run.info.run_id, "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("pipeline prepare-data · run ")
    assert "[1] step prepare-dataset" in out[2] and "in  source: movielens-latest-small digest" in out[3]
    assert any("<- output of prepare-dataset" in line for line in out)


def test_lastfm_through_the_local_runner(tmp_path: Path) -> None:
    result = run_local(catalog.get("prepare-data"), {"dataset": "lastfm-hetrec-2k"}, tmp_path / "runs")
    prepared = Path(result.outputs["dataset"])
    assert pq.read_table(prepared / "social.parquet").num_rows == 25434
    assert result.metrics["users"] == 1892 and result.metrics["catalogue_items"] == 17632
    assert result.metrics["interactions"] == 92834
    assert Path(result.outputs["report"]).read_text().startswith("# Dataset report: lastfm-hetrec-2k")
    assert (tmp_path / "runs" / "mlflow.db").is_file()


def test_error_inside_a_step_reaches_the_cli(tmp_path: Path) -> None:
    bad = write_movielens_csv(tmp_path / "bad", "userId,movieId,rating,timestamp\n1,1,4.0,10\n1,x,3.0,11\n")
    done = _recforge("run", "prepare-data", "--local", "--workdir", "runs", "--set", f"data_dir={bad}", cwd=tmp_path)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert (
        last
        == "recforge: error: step prepare-dataset: ratings.csv line 3, column 'movieId': expected an integer, got 'x'"
    )
    assert "Traceback" not in done.stderr
    assert list((tmp_path / "runs" / "pipeline-root").iterdir()) == []  # no partial outputs
    _, runs = _runs(tmp_path / "runs")
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    assert parent.info.status == "FAILED" and "column 'movieId'" in parent.data.tags["recforge.error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "negatives=3"],
            "recforge: error: --set negatives: unknown parameter of prepare-data; expected one of",
        ),
        (["--set", "dataset=movielens-25m"], "recforge: error: prepare_data.dataset: got 'movielens-25m'; expected"),
        (["--set", "seed=abc"], "recforge: error: --set seed: got 'abc'; expected a value of type int"),
        (["--set", "seed"], "recforge: error: --set seed: expected key=value"),
    ],
)
def test_bad_parameters_stop_before_anything_runs(tmp_path: Path, capsys, args: list[str], message: str) -> None:
    assert main(["run", "prepare-data", "--local", "--workdir", str(tmp_path / "runs"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_unknown_pipeline_and_list(capsys) -> None:
    assert main(["compile", "no-such-pipeline"]) == 2
    assert "recforge: error: pipeline: unknown pipeline 'no-such-pipeline'; expected one of prepare-data" in (
        capsys.readouterr().err
    )
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(catalog.PIPELINES)
