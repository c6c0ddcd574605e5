"""The prepare-data pipeline against a real `mlflow server` on 127.0.0.1 (SQLite backend, artifact proxy)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from servers import free_port, start_mlflow_server, stop

from pipelines import catalog
from pipelines.local import run_local


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    process = start_mlflow_server(root, port)
    yield f"http://127.0.0.1:{port}"
    stop(process)


def test_pipeline_tracks_into_the_server(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    result = run_local(catalog.get("prepare-data"), {"num_negatives": 4}, tmp_path / "runs")
    assert result.tracking_uri == server
    assert not (tmp_path / "runs" / "mlflow.db").exists()  # nothing tracked locally

    client = mlflow.MlflowClient(server)
    experiment = client.get_experiment_by_name("prepare-data")
    runs = client.search_runs([experiment.experiment_id])
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED" and parent.data.params["num_negatives"] == "4"
    steps = {
        r.data.tags["recforge.step"]: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert set(steps) == {"prepare-dataset", "data-report"}
    prep = steps["prepare-dataset"]
    assert prep.data.metrics["users"] == 610 and prep.data.metrics["catalogue_items"] == 9742
    assert prep.inputs.dataset_inputs[0].dataset.name == "movielens-latest-small"
    # artifacts travel through the server's proxy
    local = client.download_artifacts(prep.info.run_id, "stats.json", str(tmp_path))
    stats = json.loads(Path(local).read_text())
    assert stats["interactions"] == 100836 and stats["config"]["num_negatives"] == 4
    assert prep.data.tags["recforge.output.prepared.digest"] == stats["digest"]
