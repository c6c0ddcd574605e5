"""Local runs that end abnormally leave nothing behind: the CLI's step processes stopped, partial outputs removed,
MLflow runs closed as KILLED.

While a local run is alive it holds a marker `<workdir>/active/<parent run id>.json` (its pid, the process's start
time, the store) and writes its KFP outputs under `<workdir>/pipeline-root/<parent run id>/`. An interrupted run
(SIGINT, SIGTERM) cleans up itself (`stop_children`, `close_killed`); a run killed outright (SIGKILL, a lost
machine) cannot, so the next run in the workdir finds its marker with no live process behind it and does it
(`reconcile`), saying so in one line. Standard library at module level (psutil and MLflow inside functions).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

ACTIVE = "active"
STOP_GRACE = 20.0  # seconds a step has to close its MLflow run after SIGTERM before SIGKILL


def start_marker(workdir: Path, parent: str, uri: str) -> Path:
    """Write the marker of the run `parent` of this process; returns its path."""
    import psutil

    folder = workdir / ACTIVE
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f"{parent}.json"
    record = {"pid": os.getpid(), "started": psutil.Process().create_time(), "uri": uri, "time": time.time()}
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, marker)
    return marker


def stop_children(grace: float = STOP_GRACE) -> int:
    """SIGTERM every descendant of this process, SIGKILL those still alive after `grace` seconds; returns how many
    there were."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    return len(children)


def close_killed(parent: str, uri: str, reason: str) -> int:
    """Mark the parent run and its step runs still RUNNING as KILLED with `reason`; returns how many runs changed."""
    import mlflow

    from components.common.lineage import search_all
    from components.common.tracking import TAG_ERROR

    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(parent)
    steps = search_all(client, [run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    changed = 0
    for candidate in [*steps, run]:
        if candidate.info.status in ("RUNNING", "SCHEDULED"):
            client.set_tag(candidate.info.run_id, TAG_ERROR, reason)
            client.set_terminated(candidate.info.run_id, status="KILLED")
            changed += 1
    return changed


def remove_run_outputs(workdir: Path, parent: str) -> bool:
    """Remove the KFP outputs of run `parent`; whether there were any."""
    folder = workdir / "pipeline-root" / parent
    existed = folder.exists()
    shutil.rmtree(folder, ignore_errors=True)
    return existed


def _process_alive(pid: int, started: float) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        return abs(process.create_time() - started) < 1.0 and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def reconcile(workdir: Path) -> list[str]:
    """Clean up after every run of `workdir` whose process is gone; one line per run cleaned up."""
    folder = workdir / ACTIVE
    lines: list[str] = []
    if not folder.is_dir():
        return lines
    for marker in sorted(folder.glob("*.json")):
        try:
            record = json.loads(marker.read_text(encoding="utf-8"))
            pid, started, uri = int(record["pid"]), float(record["started"]), str(record["uri"])
        except (OSError, ValueError, KeyError, TypeError):
            marker.unlink(missing_ok=True)
            continue
        if _process_alive(pid, started):
            continue
        parent = marker.stem
        removed = remove_run_outputs(workdir, parent)
        try:
            closed = close_killed(parent, uri, f"the run's process ({pid}) ended without closing it")
            runs = f"{closed} MLflow run(s) marked KILLED"
        except Exception as exc:  # the store may be gone; the outputs are cleaned up regardless
            runs = f"its MLflow runs left as they are ({type(exc).__name__})"
        marker.unlink(missing_ok=True)
        lines.append(
            f"recforge: run {parent} (process {pid}) was killed: {runs}{', partial outputs removed' if removed else ''}"
        )
    return lines
