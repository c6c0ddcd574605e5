"""Faults a local run must survive, each through the real CLI in its own process: signals (SIGINT, SIGTERM,
SIGKILL) sent to the CLI process only, concurrent first runs in a fresh workdir, a tracking server that is not
there or dies mid-run, and a workdir or store that cannot be written."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
SFT_FAST = ["--set", "eval_users=10", "--set", "sasrec_epochs=1"]  # train-sft itself at its defaults: long enough


def _cli(*args: str, **kwargs: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _runs(workdir: Path) -> dict[str, str]:
    """name -> status of every run in the workdir's store (names are unique in these tests but for steps that
    run once per pipeline run, which is all they look at)."""
    with sqlite3.connect(workdir / "mlflow.db") as db:
        return dict(db.execute("select name, status from runs order by start_time"))


def _wait_for_step(workdir: Path, step: str, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            if _runs(workdir).get(step) == "RUNNING":
                time.sleep(2)  # well inside the step's work
                return
        except sqlite3.Error:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{step} never started")


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_to_the_cli_stops_steps_removes_outputs_and_marks_runs_killed(
    signum: int, code: int, tmp_path: Path
) -> None:
    workdir = tmp_path / "runs"
    cli = _cli("run", "sft-rec", "--local", "--workdir", str(workdir), *SFT_FAST)
    _wait_for_step(workdir, "train-sft", cli)
    children = psutil.Process(cli.pid).children(recursive=True)
    assert children
    os.kill(cli.pid, signum)  # the CLI process only, as `kill PID` does
    _, err = cli.communicate(timeout=90)
    assert cli.returncode == code
    assert f"recforge: interrupted ({signal.Signals(signum).name}); runs marked KILLED" in err
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    runs = _runs(workdir)
    assert runs["train-sft"] == "KILLED"
    assert next(status for name, status in runs.items() if name.startswith("sft-rec-")) == "KILLED"
    assert "RUNNING" not in runs.values()
    assert list((workdir / "pipeline-root").iterdir()) == []  # no partial outputs
    assert list((workdir / "active").iterdir()) == []
    time.sleep(3)  # nothing is written after the CLI returned
    assert _runs(workdir) == runs and list((workdir / "pipeline-root").iterdir()) == []


def test_after_sigkill_the_steps_stop_and_the_next_run_reconciles(tmp_path: Path) -> None:
    workdir = tmp_path / "runs"
    cli = _cli("run", "sft-rec", "--local", "--workdir", str(workdir), *SFT_FAST)
    _wait_for_step(workdir, "train-sft", cli)
    children = psutil.Process(cli.pid).children(recursive=True)
    cli.kill()
    cli.communicate(timeout=30)
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive  # the steps noticed their CLI was gone
    runs = _runs(workdir)
    assert runs["train-sft"] == "KILLED"
    parent = next(name for name in runs if name.startswith("sft-rec-"))
    assert runs[parent] == "RUNNING"  # nobody could close it
    assert len(list((workdir / "active").iterdir())) == 1 and len(list((workdir / "pipeline-root").iterdir())) == 1

    again = _cli("run", "prepare-data", "--local", "--workdir", str(workdir), "--set", "num_negatives=3")
    out, err = again.communicate(timeout=240)
    assert again.returncode == 0, err
    lines = [line for line in out.splitlines() if "was killed" in line]
    assert len(lines) == 1 and lines[0].endswith("1 MLflow run(s) marked KILLED, partial outputs removed")
    runs = _runs(workdir)
    assert runs[parent] == "KILLED" and "RUNNING" not in runs.values()
    assert list((workdir / "active").iterdir()) == []
    assert len(list((workdir / "pipeline-root").iterdir())) == 1  # the new run's outputs only


def test_concurrent_first_runs_in_a_fresh_workdir(tmp_path: Path) -> None:
    """Three runs started together once raced on MLflow's schema creation (duplicate column name)."""
    workdir = tmp_path / "runs"
    clis = [
        _cli("run", "prepare-data", "--local", "--no-cache", "--workdir", str(workdir), "--set", f"num_negatives={n}")
        for n in (3, 4, 5)
    ]
    results = [cli.communicate(timeout=300) for cli in clis]
    assert [cli.returncode for cli in clis] == [0, 0, 0], [err for _, err in results]
    runs = _runs(workdir)
    with sqlite3.connect(workdir / "mlflow.db") as db:
        statuses = [row[0] for row in db.execute("select status from runs")]
    assert statuses == ["FINISHED"] * 9  # 3 parents x (parent + 2 steps)
    assert len(runs) >= 3


def test_a_closed_tracking_port_fails_in_seconds_with_one_line(tmp_path: Path) -> None:
    started = time.perf_counter()
    cli = _cli(
        "run", "prepare-data", "--local", "--workdir", str(tmp_path / "w"),
        env={**os.environ, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
    )  # fmt: skip
    _, err = cli.communicate(timeout=60)
    assert cli.returncode == 2
    assert time.perf_counter() - started < 15
    assert err.strip().splitlines() == [
        "recforge: error: MLflow tracking server http://127.0.0.1:9: unreachable ([Errno 111] Connection refused); "
        "expected a running MLflow server (check MLFLOW_TRACKING_URI)"
    ]


@contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """`path` unwritable even for root (chmod alone does not stop root): chmod, plus the immutable attribute."""
    mode = path.stat().st_mode
    path.chmod(mode & ~0o222)
    immutable = os.geteuid() == 0
    if immutable:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(mode)


def test_a_read_only_workdir_is_one_line(tmp_path: Path) -> None:
    workdir = tmp_path / "runs"
    workdir.mkdir()
    with _read_only(workdir):
        cli = _cli("run", "prepare-data", "--local", "--workdir", str(workdir))
        _, err = cli.communicate(timeout=60)
    assert cli.returncode == 2
    assert (
        err.strip().splitlines()
        == [
            f"recforge: error: workdir {workdir.resolve()}: cannot be written (Permission denied); expected a folder "
            "you can write (--workdir DIR)"
        ]
        or "Operation not permitted" in err
    )


def test_a_read_only_store_is_one_line(tmp_path: Path) -> None:
    workdir = tmp_path / "runs"
    first = _cli("run", "prepare-data", "--local", "--workdir", str(workdir), "--set", "num_negatives=3")
    assert first.communicate(timeout=240) and first.returncode == 0
    with _read_only(workdir / "mlflow.db"):
        cli = _cli("run", "prepare-data", "--local", "--workdir", str(workdir), "--set", "num_negatives=4")
        _, err = cli.communicate(timeout=60)
    assert cli.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"recforge: error: MLflow store {(workdir / 'mlflow.db').resolve()}: cannot be written")


def test_a_tracking_server_killed_mid_run_fails_the_step_and_the_run_can_be_rerun(tmp_path: Path) -> None:
    from servers import free_port, start_mlflow_server, stop

    root, port = tmp_path / "server", free_port()
    server = start_mlflow_server(root, port)
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": url}
    workdir = tmp_path / "runs"
    try:
        cli = _cli("run", "sft-rec", "--local", "--workdir", str(workdir), *SFT_FAST, env=env)
        deadline = time.time() + 240
        while time.time() < deadline:  # the server's own store tells when train-sft runs
            assert cli.poll() is None, cli.communicate()
            with sqlite3.connect(root / "mlflow.db") as db:
                if db.execute("select 1 from runs where name = 'train-sft' and status = 'RUNNING'").fetchone():
                    break
            time.sleep(0.3)
        time.sleep(2)
        stop(server, signal.SIGKILL)
        started = time.perf_counter()
        _, err = cli.communicate(timeout=180)
        assert cli.returncode == 2
        assert time.perf_counter() - started < 120
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith(
            f"recforge: error: step train-sft: MLflow tracking server {url}: lost during the step"
        )
        assert lines[0].endswith("the next run will)")  # the parent run could not be closed while the server was down
        assert len(list((workdir / "active").iterdir())) == 1

        server = start_mlflow_server(root, port)  # the same store back on the same address
        again = _cli("run", "prepare-data", "--local", "--workdir", str(workdir), "--set", "num_negatives=3", env=env)
        out, err = again.communicate(timeout=240)
        assert again.returncode == 0, err
        assert "was killed: 2 MLflow run(s) marked KILLED" in out, out  # the parent and train-sft
        with sqlite3.connect(root / "mlflow.db") as db:
            statuses = dict(
                db.execute("select name, status from runs where name like 'sft-rec-%' or name = 'train-sft'")
            )
        assert list(statuses.values()) == ["KILLED", "KILLED"]
    finally:
        stop(server, signal.SIGKILL)


def test_a_signal_during_a_parallel_for_starts_no_further_iteration(tmp_path: Path) -> None:
    """kfp.local runs ParallelFor iterations on a thread pool that, left alone, starts every queued iteration
    after an interrupt; the CLI stops them (kg-embedding once trained its next model to the end after Ctrl-C)."""
    from conftest import write_wn18rr_slice

    kg = write_wn18rr_slice(tmp_path / "kg")
    workdir = tmp_path / "runs"
    models = "--set", "models=nfe-1,nfe-2,distmult"
    cli = _cli("run", "kg-embedding", "--local", "--workdir", str(workdir), "--set", f"kg_data_dir={kg}", *models,
               "--set", "kge_epochs=1000", "--set", "kge_dim=8")  # fmt: skip
    tree = [cli]
    try:
        _wait_for_step(workdir, "train-nfe-1", cli)
        tree += psutil.Process(cli.pid).children(recursive=True)
        os.kill(cli.pid, signal.SIGINT)
        started = time.time()
        _, err = cli.communicate(timeout=90)
    finally:  # a failure here must not leave a 1000-epoch training behind
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                process.kill()
    assert cli.returncode == 130, err
    assert time.time() - started < 30
    runs = _runs(workdir)
    assert runs["train-nfe-1"] == "KILLED"
    assert "train-nfe-2" not in runs and "train-distmult" not in runs  # no later iteration started
    assert "RUNNING" not in runs.values()
    assert list((workdir / "pipeline-root").iterdir()) == []
