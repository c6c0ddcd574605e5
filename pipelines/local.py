"""Running a pipeline on this machine with KFP's own local runner (`SubprocessRunner(use_venv=False)`).

The workdir holds everything a local run makes: `mlflow.db` and `mlartifacts/` (the embedded MLflow store,
unless MLFLOW_TRACKING_URI points elsewhere; created once, under a file lock), `pipeline-root/<parent run>/`
(KFP's artifacts, one folder per run, removed when the run fails or is interrupted), `kfp-cache/` (kfp.local's
task cache: a step whose inputs, command and image match an earlier successful run reuses that run's outputs),
`workspace/<parent run>/` (KFP's scratch space, removed after the run), `errors/` (step messages for the CLI) and
`active/<parent run>.json` while the run lives (pipelines/liveness.py: what the next run cleans up after a run
that was killed). A reused step runs no MLflow run of its own: the parent run records, per reused task, the
MLflow run that made its outputs (`recforge.reused.<task>`), read from the outputs' metadata.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from components.common.config import coerce
from components.common.errors import ConfigError, RecforgeError
from components.common.interrupts import CLI_PID_ENV, Interrupted, signals_raise
from components.common.store import HTTP_LIMITS, prepare_store
from pipelines import liveness
from pipelines.catalog import Entry
from pipelines.console import ANSI, StepConsole, captured
from pipelines.preflight import preflight
from pipelines.settings import LOCAL, CompileSettings

_PATH_PARAMS = ("data_dir",)


@dataclass
class LocalRun:
    """What a finished local run produced."""

    pipeline: str
    workdir: Path
    tracking_uri: str
    parent_run_id: str
    outputs: dict[str, str] = field(default_factory=dict)  # output name -> path
    metrics: dict[str, float] = field(default_factory=dict)  # key metrics of the step runs ("model.key" per model)
    seconds: float = 0.0
    reused: dict[str, str] = field(default_factory=dict)  # task reused from the cache -> MLflow run that made it
    step_seconds: dict[str, float] = field(default_factory=dict)  # task that ran -> seconds


def parse_overrides(entry: Entry, assignments: list[str]) -> dict[str, Any]:
    """`key=value` strings -> typed pipeline arguments (each value parsed once, here); unknown names and bad
    values are ConfigErrors."""
    known = entry.table()
    values: dict[str, Any] = {}
    for text in assignments:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {text}", "expected key=value")
        if key not in known:
            raise ConfigError(
                f"--set {key}",
                f"unknown parameter of {entry.name}; expected one of {', '.join(sorted(known))}",
            )
        kind = known[key].kind
        values[key] = _as_list(raw, f"--set {key}") if kind is list else coerce(raw, kind, f"--set {key}")
    return values


def _as_list(raw: str, where: str) -> list:
    """A JSON list, or comma-separated words: '["dpo", "ipo"]' or 'dpo,ipo'."""
    text = raw.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(where, f'not a JSON list ({exc.msg}); expected e.g. ["a", "b"] or a,b') from None
        if not isinstance(value, list):
            raise ConfigError(where, "expected a list")
        return value
    return [part.strip() for part in text.split(",") if part.strip()]


def validate(entry: Entry, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Complete typed `arguments` with defaults and check them against the steps' configs before anything runs."""
    full = {name: p.default for name, p in entry.table().items()}
    full.update(arguments)
    for name in _PATH_PARAMS:
        if full.get(name):
            full[name] = str(Path(full[name]).expanduser().resolve())
    for cls in entry.config_classes():
        cls(**{k: v for k, v in full.items() if k in cls.docs()})  # validates in __post_init__
    entry.run_checks(full)
    preflight(full)
    return full


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_local(
    entry: Entry,
    arguments: Mapping[str, Any],
    workdir: str | Path,
    settings: CompileSettings = LOCAL,
    *,
    cache: bool = True,
    verbose: bool = False,
    out: TextIO | None = None,
) -> LocalRun:
    """Run `entry` built with `settings` through kfp.local with MLflow set up, printing one line per step to `out`
    (kfp.local's whole output with `verbose`); `cache` lets steps reuse an earlier run's outputs. Raises
    RecforgeError with the failing step's message."""
    from components.common import tracking

    args = validate(entry, arguments)
    workdir = Path(workdir).expanduser().resolve()
    _writable_workdir(workdir, (workdir / "pipeline-root", workdir / "workspace"))
    uri = tracking.tracking_uri(workdir)
    limits = {key: value for key, value in HTTP_LIMITS.items() if key not in os.environ}
    with _environment(limits):
        prepare_store(uri)
        for line in liveness.reconcile(workdir):
            print(line, file=out or sys.stdout)
        experiment_id = tracking.ensure_experiment(entry.name, uri)
        run_name = f"{entry.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        parent = tracking.start_parent_run(entry.name, args, uri, run_name=run_name)
        marker = liveness.start_marker(workdir, parent, uri)  # removed once the run's MLflow runs are closed
        result = _run_started(entry, args, workdir, settings, uri, experiment_id, parent, limits, cache, verbose, out)
        marker.unlink(missing_ok=True)
        return result


def _writable_workdir(workdir: Path, folders: Sequence[Path]) -> None:
    """Create the workdir's folders and prove the workdir can be written; one RecforgeError line otherwise."""
    try:
        for folder in (workdir, *folders):
            folder.mkdir(parents=True, exist_ok=True)
        probe = workdir / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise RecforgeError(
            f"workdir {workdir}: cannot be written ({exc.strerror or exc}); expected a folder you can write "
            "(--workdir DIR)"
        ) from None


def _run_started(
    entry: Entry,
    args: dict[str, Any],
    workdir: Path,
    settings: CompileSettings,
    uri: str,
    experiment_id: str,
    parent: str,
    limits: Mapping[str, str],
    cache: bool,
    verbose: bool,
    out: TextIO | None,
) -> LocalRun:
    """The part of `run_local` after the parent run exists: the steps through kfp.local, then the results."""
    from kfp import local

    from components.common import tracking

    pipeline_root = workdir / "pipeline-root" / parent  # one folder per run: a failed run removes only its own
    workspace = workdir / "workspace" / parent
    error_dir = workdir / "errors" / parent
    env = {
        **limits,
        "MLFLOW_TRACKING_URI": uri,
        "MLFLOW_EXPERIMENT_ID": experiment_id,
        "RECFORGE_PARENT_RUN_ID": parent,
        "RECFORGE_ERROR_DIR": str(error_dir),
        "RECFORGE_CHECKPOINT_ROOT": str(workdir / "checkpoints"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        CLI_PID_ENV: str(os.getpid()),
    }
    data_dir = os.environ.get("RECFORGE_DATA_DIR")
    if data_dir:
        env["RECFORGE_DATA_DIR"] = str(Path(data_dir).expanduser().resolve())
    started = time.perf_counter()
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(pipeline_root),
        workspace_root=str(workspace),
        raise_on_error=True,
        enable_caching=cache,
        cache_root=str(workdir / "kfp-cache"),
    )
    console = StepConsole(out or sys.stdout, verbose=verbose)
    stopping = threading.Event()

    def stop_steps() -> None:
        stopping.set()  # first: no queued loop iteration starts once the steps are being stopped
        liveness.stop_children()

    try:
        with (
            _no_tasks_after(stopping),
            signals_raise(before=stop_steps),
            _environment(env),
            warnings.catch_warnings(),
            captured(console),
        ):
            # Expected locally: the project image is not pulled, and pod settings only matter on a cluster.
            warnings.filterwarnings("ignore", message=".*non-Python base image.*")
            warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
            outputs = entry.build(settings)(**args)
    except BaseException as exc:
        with _ignoring_signals():  # the cleanup runs to its end
            console.flush()
            _abandon(workdir, parent, uri, error_dir, entry.name, exc)
        raise  # not reached: _abandon raises
    finally:
        shutil.rmtree(workspace, ignore_errors=True)  # KFP's scratch space of this run
    console.flush()
    reused = _reused_runs(console.events.reused, workdir / "kfp-cache")
    _record_reused(parent, reused, uri)
    tracking.end_run(parent, "FINISHED", uri)
    result = LocalRun(entry.name, workdir, uri, parent, seconds=time.perf_counter() - started, reused=reused)
    result.step_seconds = dict(console.events.seconds)
    result.outputs = _output_paths(outputs)
    result.metrics = _key_metrics(entry, parent, uri, list(reused.values()))
    return result


@contextmanager
def _no_tasks_after(stop: threading.Event) -> Iterator[None]:
    """kfp.local runs dsl.ParallelFor iterations on a thread pool whose shutdown waits for every queued iteration, so
    an interrupted run went on starting them (a Ctrl-C during kg-embedding's first model trained the next one to
    its end). Inside the block, once `stop` is set, a task that has not started fails at once instead."""
    from kfp.local import status
    from kfp.local.orchestrator import enhanced_dag_orchestrator as dag

    original = dag.execute_task

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if stop.is_set():
            return {}, status.Status.FAILURE
        return original(*args, **kwargs)

    dag.execute_task = guarded
    try:
        yield
    finally:
        dag.execute_task = original


@contextmanager
def _ignoring_signals() -> Iterator[None]:
    """SIGINT and SIGTERM ignored inside the block (a second Ctrl-C must not cut the cleanup short)."""
    saved = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def _abandon(workdir: Path, parent: str, uri: str, error_dir: Path, name: str, exc: BaseException) -> None:
    """After a failed or interrupted run: stop the step processes, remove the run's outputs, close its MLflow runs
    (FAILED, or KILLED after a signal), then raise: RecforgeError with the step's own message, or the interrupt."""
    from components.common import tracking

    interrupted = isinstance(exc, KeyboardInterrupt)
    liveness.stop_children()
    liveness.remove_run_outputs(workdir, parent)
    if interrupted:
        reason = f"interrupted ({exc})" if str(exc) else "interrupted"
        message = f"{name} {reason}: step processes stopped, partial outputs removed, runs marked KILLED"
    else:
        message = _step_error(error_dir) or f"pipeline {name} failed: {_first_line(exc)}"
    try:
        if interrupted:
            liveness.close_killed(parent, uri, reason)
        else:
            tracking.end_run(parent, "FAILED", uri, error=message)
    except Exception as store_error:  # the store itself may be what failed: the marker stays for the next run
        message += f" (the MLflow runs could not be closed: {_first_line(store_error)[:200]}; the next run will)"
    else:
        (workdir / liveness.ACTIVE / f"{parent}.json").unlink(missing_ok=True)
    if interrupted:
        raise Interrupted(exc.signum if isinstance(exc, Interrupted) else signal.SIGINT) from None
    raise RecforgeError(message) from None


def _reused_runs(hits: Mapping[str, str], cache_root: Path) -> dict[str, str]:
    """task -> the MLflow run that made the outputs a cache hit reused (from the outputs' metadata in kfp.local's
    cache entry, named by the key prefix kfp.local logs); '' where the entry names none."""
    from components.common.step import OUTPUT_RUN_KEY

    found: dict[str, str] = {}
    for task, key in hits.items():
        runs = []
        for entry in sorted(cache_root.glob(f"{key}*.json")):
            outputs = json.loads(entry.read_text(encoding="utf-8"))
            for value in outputs.values():
                for artifact in value.get("artifacts", [value]) if isinstance(value, dict) else []:
                    if isinstance(artifact, dict) and (artifact.get("metadata") or {}).get(OUTPUT_RUN_KEY):
                        runs.append(artifact["metadata"][OUTPUT_RUN_KEY])
        found[task] = runs[0] if runs else ""
    return found


def _record_reused(parent: str, reused: Mapping[str, str], uri: str) -> None:
    import mlflow

    from components.common import tracking

    if reused:
        client = mlflow.MlflowClient(tracking_uri=uri)
        for task, run_id in reused.items():
            client.set_tag(parent, f"{tracking.TAG_REUSED}.{task}", run_id)


def _first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception's message, without ANSI colour codes."""
    lines = [line for line in ANSI.sub("", str(exc)).splitlines() if line.strip()]
    return lines[0].strip() if lines else type(exc).__name__


def _step_error(error_dir: Path) -> str | None:
    if not error_dir.is_dir():
        return None
    reports = sorted(error_dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not reports:
        return None
    record = json.loads(reports[0].read_text(encoding="utf-8"))
    return f"step {record['step']}: {record['message']}"


def _output_paths(outputs: Any) -> dict[str, str]:
    if outputs is None:
        return {}
    if hasattr(outputs, "outputs"):  # the PipelineTask a local pipeline call returns
        outputs = outputs.outputs
    if hasattr(outputs, "path"):
        return {"output": outputs.path}
    if isinstance(outputs, Mapping):
        items = outputs.items()
    elif hasattr(outputs, "_asdict"):
        items = outputs._asdict().items()
    else:
        return {}
    return {name: getattr(value, "path", str(value)) for name, value in items}


def _key_metrics(entry: Entry, parent: str, uri: str, reused: Sequence[str] = ()) -> dict[str, float]:
    import mlflow

    from components.common.lineage import search_all

    client = mlflow.MlflowClient(tracking_uri=uri)
    parent_run = client.get_run(parent)
    children = search_all(client, [parent_run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")
    children += [client.get_run(run_id) for run_id in reused if run_id]
    found: dict[str, float] = {}
    for child in sorted(children, key=lambda r: r.info.start_time or 0):
        model = child.data.tags.get("recforge.model") or child.data.tags.get("recforge.method")
        for key in entry.key_metrics:
            if key in child.data.metrics:
                found[f"{model}.{key}" if model else key] = child.data.metrics[key]
    return found
