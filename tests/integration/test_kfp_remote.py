"""`recforge submit`, `schedule` and `runs` against a local server speaking the KFP v2beta1 REST API (request
bodies checked against the kfp-server-api models), through KFP's own client."""

from __future__ import annotations

import socket
from pathlib import Path

import mlflow
import pytest
from kfp_api_fake import FakeKFP, Invalid, check_model

from pipelines.cli import main


@pytest.fixture
def kfp() -> FakeKFP:
    with FakeKFP() as server:
        yield server


def test_submit_uploads_a_version_and_starts_a_run(kfp: FakeKFP, capsys: pytest.CaptureFixture) -> None:
    flags = ["--host", kfp.url, "--namespace", "team-a", "--set", "sft_max_examples=64", "--set", "lora_r=4"]
    assert main(["submit", "sft-rec", *flags, "--gpus", "2", "--training-image", "reg.io/train:7"]) == 0
    out = capsys.readouterr().out
    assert len(kfp.runs) == 1 and kfp.runs[0]["run_id"] in out
    (pipeline,) = kfp.pipelines.values()
    assert pipeline["display_name"] == "sft-rec"
    (version,) = kfp.versions[pipeline["pipeline_id"]]
    run = kfp.runs[0]
    assert run["pipeline_version_reference"] == {
        "pipeline_id": pipeline["pipeline_id"],
        "pipeline_version_id": version["pipeline_version_id"],
    }
    assert run["display_name"].startswith("sft-rec ")
    assert kfp.experiments[run["experiment_id"]]["display_name"] == "recforge"
    assert kfp.experiments[run["experiment_id"]]["namespace"] == "team-a"
    assert run["runtime_config"]["parameters"] == {"sft_max_examples": 64, "lora_r": 4}
    # the uploaded spec carries the compile flags: 2 GPUs and the given image on the SFT step only
    sft = kfp.packages[version["pipeline_version_id"]]["deploymentSpec"]["executors"]["exec-train-sft"]["container"]
    assert sft["image"] == "reg.io/train:7" and sft["resources"]["accelerator"]["resourceCount"] == "2"
    prepare = kfp.packages[version["pipeline_version_id"]]["deploymentSpec"]["executors"]["exec-prepare-dataset"]
    assert "accelerator" not in prepare["container"].get("resources", {})

    # a second submit adds a version to the same pipeline and reuses the experiment
    assert main(["submit", "sft-rec", "--host", kfp.url, "--namespace", "team-a"]) == 0
    assert len(kfp.pipelines) == 1 and len(kfp.versions[pipeline["pipeline_id"]]) == 2
    assert len(kfp.experiments) == 1 and len(kfp.runs) == 2
    assert kfp.runs[1]["pipeline_version_reference"]["pipeline_version_id"] != version["pipeline_version_id"]
    assert kfp.runs[1]["runtime_config"].get("parameters", {}) == {}


def test_schedule_creates_a_recurring_run(kfp: FakeKFP, capsys: pytest.CaptureFixture) -> None:
    assert main(["schedule", "sft-rec", "--host", kfp.url, "--cron", "0 0 3 * * *"]) == 0
    (recurring,) = kfp.recurring
    assert recurring["trigger"] == {"cron_schedule": {"cron": "0 0 3 * * *"}}
    assert int(recurring["max_concurrency"]) == 1 and recurring["no_catchup"] is True
    assert recurring["mode"] == "ENABLE"
    assert recurring["recurring_run_id"] in capsys.readouterr().out
    # the data window of each run ends at its scheduled time: the prepare step gets KFP's schedule-time placeholder
    version = recurring["pipeline_version_reference"]["pipeline_version_id"]
    dag = kfp.packages[version]["components"]["comp-exit-handler-1"]["dag"]  # the DAG inside the exit handler
    prepare = dag["tasks"]["prepare-dataset"]["inputs"]["parameters"]
    assert prepare["schedule_time"]["runtimeValue"]["constant"] == "{{$.pipeline_job_schedule_time_utc}}"


def test_runs_lists_state_and_mlflow_links(
    kfp: FakeKFP, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    assert main(["submit", "prepare-data", "--host", kfp.url]) == 0
    assert main(["submit", "prepare-data", "--host", kfp.url]) == 0
    first, second = (r["run_id"] for r in kfp.runs)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("recforge-prepare-data")
    parent = mlflow.MlflowClient(uri).create_run(
        experiment, tags={"recforge.kfp_run_id": first, "recforge.pipeline": "prepare-data"}
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    capsys.readouterr()
    assert main(["runs", "--host", kfp.url, "--mlflow-ui", "http://mlflow.example:5000"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("PENDING" in line for line in lines)
    by_id = {line.split()[0]: line for line in lines}
    link = f"http://mlflow.example:5000/#/experiments/{experiment}/runs/{parent.info.run_id}"
    assert by_id[first].endswith(link)
    assert by_id[second].endswith(" -")  # no MLflow run yet
    assert main(["runs", "--host", kfp.url, "--limit", "1"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["schedule", "sft-rec", "--cron", "0 3 * * *"], "--cron: got '0 3 * * *'; expected 6 fields"),
        (["submit", "sft-rec", "--set", "lora=4"], "--set lora: unknown parameter of sft-rec"),
        (["submit", "no-such"], "unknown pipeline"),
        (["runs", "--limit", "0"], "runs: --limit 0; expected a count >= 1"),
    ],
)
def test_bad_requests_stop_before_the_server(
    kfp: FakeKFP, argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    assert main([*argv, "--host", kfp.url]) == 2
    assert message in capsys.readouterr().err
    assert kfp.requests == []


def test_unreachable_server_and_missing_host(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["runs", "--host", f"http://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"recforge: error: connect: cannot reach http://127.0.0.1:{port}") and "\n" not in err
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    assert main(["submit", "sft-rec"]) == 2
    assert "no --host and no KF_PIPELINES_ENDPOINT" in capsys.readouterr().err


def test_the_fake_refuses_what_the_models_refuse() -> None:
    check_model({"display_name": "x", "runtime_config": {"parameters": {"a": 1}}}, "V2beta1Run", "run")
    with pytest.raises(Invalid, match=r"run: unknown field 'pipeline_name' of V2beta1Run"):
        check_model({"display_name": "x", "pipeline_name": "y"}, "V2beta1Run", "run")
    with pytest.raises(Invalid, match=r"recurring_run.no_catchup: expected a boolean"):
        check_model({"no_catchup": "yes"}, "V2beta1RecurringRun", "recurring_run")
    with pytest.raises(Invalid, match=r"recurring_run.mode: 'ON' is not a"):
        check_model({"mode": "ON"}, "V2beta1RecurringRun", "recurring_run")


def test_a_server_that_needs_a_token(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    """401 is reported as such in one line (it once gave 161 lines, 5 tracebacks and a timeout), a token from a
    file or the environment is sent as a bearer token, and a password in --host is never echoed."""
    monkeypatch.delenv("KF_PIPELINES_TOKEN", raising=False)
    monkeypatch.delenv("KF_PIPELINES_TOKEN_FILE", raising=False)
    with FakeKFP(token="s3cret-token") as kfp:
        assert main(["runs", "--host", kfp.url]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (
            f"recforge: error: connect: {kfp.url} answered 401 Unauthorized; expected a valid bearer token "
            "(--token-file FILE, KF_PIPELINES_TOKEN or KF_PIPELINES_TOKEN_FILE)"
        )
        token_file = tmp_path / "token"
        token_file.write_text("s3cret-token\n")
        assert main(["runs", "--host", kfp.url, "--token-file", str(token_file)]) == 0
        assert "no runs in namespace kubeflow" in capsys.readouterr().out
        monkeypatch.setenv("KF_PIPELINES_TOKEN", "s3cret-token")
        assert main(["submit", "prepare-data", "--host", kfp.url]) == 0
        assert len(kfp.runs) == 1
        monkeypatch.setenv("KF_PIPELINES_TOKEN", "wrong")
        assert main(["runs", "--host", kfp.url]) == 2
        assert "answered 401 Unauthorized" in capsys.readouterr().err
        with_password = kfp.url.replace("http://", "http://admin:PASSWORD123@")
        assert main(["runs", "--host", with_password]) == 2
        shown = capsys.readouterr()
        assert "PASSWORD123" not in shown.err + shown.out and "admin:***@127.0.0.1" in shown.err
    assert main(["runs", "--host", kfp.url, "--token-file", str(tmp_path / "missing")]) == 2
    assert "--token-file: " in capsys.readouterr().err
