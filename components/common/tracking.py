"""MLflow tracking as DESIGN.md lays it out: experiment = pipeline name, one parent run per pipeline run,
one nested run per step, datasets logged with their digests.

Environment contract, KFP's MLflow integration's: `MLFLOW_TRACKING_URI`, `MLFLOW_EXPERIMENT_ID`, and
`MLFLOW_RUN_ID` = the task's own run, which the backend created under the pipeline run's parent run: a step
given one logs into it (its tags and params added) instead of nesting another run under it. Without it, the
step creates its run under the parent named by `RECFORGE_PARENT_RUN_ID` (the local CLI creates the store and the
parent run before any step starts), else under the parent run tagged with its KFP run id (found or created; the
id comes from the step pod's labels, components/common/runinfo.py), which the pipeline's exit handler closes.
Without `MLFLOW_TRACKING_URI` the store is `sqlite:///<workdir>/mlflow.db`, except in a Kubernetes pod, where
a store inside the pod would vanish with it: there it is an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from components.common.errors import RecforgeError
from components.common.interrupts import parent_gone

TAG_PIPELINE = "recforge.pipeline"
TAG_STEP = "recforge.step"
TAG_KFP_RUN = "recforge.kfp_run_id"
TAG_ERROR = "recforge.error"
TAG_USER_ERROR = "recforge.user_error"  # the step failed with a RecforgeError: a retry would fail the same way
TAG_OUTPUT = "recforge.output"  # recforge.output.<name>.digest / .uri
TAG_PARENT = "mlflow.parentRunId"
PARENT_ENV = "RECFORGE_PARENT_RUN_ID"  # the pipeline run's parent run, set by the local CLI
TASK_RUN_ENV = "MLFLOW_RUN_ID"  # the task's own run, set by KFP's MLflow integration
TAG_REUSED = "recforge.reused"  # recforge.reused.<task> on a parent run: the run whose outputs the task reused


def _mlflow() -> Any:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow

    return mlflow


def default_tracking_uri(workdir: str | Path) -> str:
    return f"sqlite:///{Path(workdir).resolve() / 'mlflow.db'}"


def tracking_uri(workdir: str | Path | None = None) -> str:
    """`MLFLOW_TRACKING_URI` if set, else the embedded SQLite store under `workdir` (default: cwd); in a Kubernetes
    pod (KUBERNETES_SERVICE_HOST set) a missing URI is a ConfigError."""
    from components.common.errors import ConfigError

    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        raise ConfigError(
            "MLFLOW_TRACKING_URI",
            "not set in this pod; expected the MLflow server's address from the ConfigMap recforge-mlflow "
            "(kubectl apply -k manifests/overlays/...) or the one RECFORGE_MLFLOW_CONFIGMAP names at compile time",
        )
    return default_tracking_uri(workdir or Path.cwd())


def _artifact_location(uri: str, experiment: str) -> str | None:
    """Artifacts beside a SQLite store (MLflow would otherwise use ./mlruns); servers decide for themselves."""
    if uri.startswith("sqlite:///"):
        root = Path(uri[len("sqlite:///") :]).parent / "mlartifacts" / experiment
        return root.resolve().as_uri()
    return None


def ensure_experiment(name: str, uri: str | None = None) -> str:
    """The id of experiment `name`, created (with a proper artifact location) when missing."""
    mlflow = _mlflow()
    uri = uri or tracking_uri()
    client = mlflow.MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=_artifact_location(uri, name))
    except mlflow.exceptions.MlflowException:
        found = client.get_experiment_by_name(name)  # created meanwhile by a parallel step
        if found is None:
            raise
        return found.experiment_id


def start_parent_run(pipeline: str, params: Mapping[str, Any], uri: str, run_name: str | None = None) -> str:
    """Create the pipeline's parent run; returns its id (the CLI exports it as RECFORGE_PARENT_RUN_ID)."""
    mlflow = _mlflow()
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment_id = ensure_experiment(pipeline, uri)
    run = client.create_run(experiment_id, run_name=run_name, tags={TAG_PIPELINE: pipeline})
    for key, value in params.items():
        client.log_param(run.info.run_id, key, _param_value(value))
    return run.info.run_id


def end_run(run_id: str, status: str, uri: str, error: str | None = None) -> None:
    client = _mlflow().MlflowClient(tracking_uri=uri)
    if error:
        client.set_tag(run_id, TAG_ERROR, error[:5000])
    client.set_terminated(run_id, status=status)


def _param_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."


def find_parent(client: Any, experiment_ids: list[str], kfp_run_id: str) -> Any | None:
    """The parent run tagged with `kfp_run_id`, or None."""
    if not kfp_run_id:
        return None
    found = client.search_runs(
        experiment_ids,
        filter_string=f"tags.`{TAG_KFP_RUN}` = '{kfp_run_id}' and tags.`{TAG_STEP}` IS NULL",
        max_results=1,
    )
    return found[0] if found else None


def _parent_run(pipeline: str, experiment_id: str, kfp_run_id: str, uri: str) -> str:
    run_id = os.environ.get(PARENT_ENV)
    if run_id:
        return run_id
    client = _mlflow().MlflowClient(tracking_uri=uri)
    found = find_parent(client, [experiment_id], kfp_run_id)
    if found is not None:
        return found.info.run_id
    run = client.create_run(
        experiment_id, run_name=kfp_run_id or None, tags={TAG_PIPELINE: pipeline, TAG_KFP_RUN: kfp_run_id}
    )
    return run.info.run_id


@contextmanager
def step_run(
    pipeline: str,
    step: str,
    params: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
    kfp_run_id: str | None = None,
) -> Iterator[Any]:
    """The step's MLflow run, active (fluent API) inside the block: the task's run the backend gave
    (`MLFLOW_RUN_ID`), else a new run nested under the pipeline run's parent; `kfp_run_id` defaults to the run the
    step's pod belongs to.

    Marked FAILED, with the error message as a tag, when the block raises; KILLED when a signal stopped it.
    """
    from components.common.runinfo import kfp_run_id as pod_run_id

    mlflow = _mlflow()
    kfp_run_id = pod_run_id() if kfp_run_id is None else kfp_run_id
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri)
    tags = {**(tags or {}), TAG_PIPELINE: pipeline, TAG_STEP: step}
    if kfp_run_id:
        tags[TAG_KFP_RUN] = kfp_run_id
    given = os.environ.get(TASK_RUN_ENV)
    if given:  # KFP's MLflow integration made this task's run: log into it
        run_id = given
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
    else:
        experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID") or ensure_experiment(pipeline, uri)
        tags[TAG_PARENT] = _parent_run(pipeline, experiment_id, kfp_run_id, uri)
        run_id = client.create_run(experiment_id, run_name=step, tags=tags).info.run_id
    for key, value in params.items():
        client.log_param(run_id, key, _param_value(value))
    active = mlflow.start_run(run_id=run_id)
    try:
        yield active
    except BaseException as exc:
        mlflow.set_tag(TAG_ERROR, str(exc)[:5000] or type(exc).__name__)
        if isinstance(exc, RecforgeError) and not exc.transient:
            mlflow.set_tag(TAG_USER_ERROR, "true")
        killed = isinstance(exc, KeyboardInterrupt) or parent_gone()
        mlflow.end_run(status="KILLED" if killed else "FAILED")
        raise
    else:
        mlflow.end_run(status="FINISHED")
    finally:
        if given:  # mlflow.end_run() unsets MLFLOW_RUN_ID; keep the environment as the backend set it
            os.environ[TASK_RUN_ENV] = given


def earlier_user_error(pipeline: str, step: str, kfp_run_id: str) -> str | None:
    """The message a user error ended an earlier attempt of `step` in KFP run `kfp_run_id` with (KFP retries a
    failed pod whatever the cause; a RecforgeError is deterministic, so the retry reports it again without
    redoing the work or opening another MLflow run). None when there was none or the store cannot say."""
    if not kfp_run_id:
        return None
    mlflow = _mlflow()
    try:
        client = mlflow.MlflowClient(tracking_uri=tracking_uri())
        experiment = client.get_experiment_by_name(pipeline)
        if experiment is None:
            return None
        runs = client.search_runs(
            [experiment.experiment_id],
            f"tags.`{TAG_KFP_RUN}` = '{kfp_run_id}' and tags.`{TAG_STEP}` = '{step}' "
            f"and tags.`{TAG_USER_ERROR}` = 'true'",
            max_results=1,
        )
    except Exception:
        return None
    return runs[0].data.tags.get(TAG_ERROR) if runs else None


def log_dataset(name: str, source: str, digest: str, context: str, tags: Mapping[str, str] | None = None) -> None:
    """`mlflow.log_input` for a dataset known by reference: its name, source (path or URL) and digest."""
    mlflow = _mlflow()
    import warnings

    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    with warnings.catch_warnings():  # a local path matches several equivalent source classes
        warnings.simplefilter("ignore", UserWarning)
        resolved = resolve_dataset_source(str(source))
    dataset = MetaDataset(source=resolved, name=name, digest=digest)
    mlflow.log_input(dataset, context=context, tags=dict(tags or {}))


def log_output(name: str, uri: str, digest: str) -> None:
    """Record an artifact the step produced (lineage follows digests from outputs to later inputs)."""
    mlflow = _mlflow()
    mlflow.set_tags({f"{TAG_OUTPUT}.{name}.uri": uri, f"{TAG_OUTPUT}.{name}.digest": digest})


def log_flat_metrics(values: Mapping[str, Any], prefix: str = "", step: int | None = None) -> dict[str, float]:
    """Log every number in a nested mapping as a metric named by its path (`splits.test.rows` -> `splits_test_rows`)."""
    flat = flatten_numbers(values, prefix)
    if flat:
        _mlflow().log_metrics(flat, step=step)
    return flat


def flatten_numbers(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}_{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten_numbers(value, name))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float):
            flat[name] = float(value)
    return flat


def log_prepared(dataset_dir: str | Path, context: str) -> dict:
    """Log a prepared Dataset directory as an input (name and digest from its stats.json); returns the stats."""
    import json

    stats = json.loads((Path(dataset_dir) / "stats.json").read_text(encoding="utf-8"))
    log_dataset(stats["dataset"], str(dataset_dir), stats["digest"], context=context)
    return stats


def log_model_output(name: str, model_dir: str | Path) -> str:
    """Record a model folder as the step's output, digested over its files; returns the digest."""
    digest = digest_of(model_dir)
    log_output(name, str(Path(model_dir).resolve()), digest)
    return digest


def digest_of(folder: str | Path) -> str:
    """Digest over every file below `folder`."""
    from components.common.digests import digest_files

    return digest_files(p for p in Path(folder).rglob("*") if p.is_file())


def write_lineage_and_log_output(model_dir: str | Path, name: str = "model") -> str:
    """Leave `lineage.json` (this run's id, the parent run) in a model folder, then record the folder as output."""
    import json

    run = _mlflow().active_run()
    record = {"run_id": run.info.run_id, "parent_run": run.data.tags.get(TAG_PARENT, "")}
    (Path(model_dir) / "lineage.json").write_text(json.dumps(record))
    return log_model_output(name, model_dir)


def log_model_input(name: str, model_dir: str | Path) -> None:
    """Log a model folder a step reads, by digest, so lineage links it to the run that produced it."""
    log_dataset(name, str(Path(model_dir).resolve()), digest_of(model_dir), context="model")


def log_base_model(record: Mapping[str, Any], context: str = "model") -> None:
    """Record a step's base model (the record of its base-model artifact, components/common/base_model.py) as a model
    input with the digest and source the resolve step logged as its output, so lineage links the two."""
    mlflow = _mlflow()
    mlflow.set_tags({"recforge.base_model": record["base_model"], "recforge.base_model_kind": record["model_kind"]})
    tags = {k: str(record[k]) for k in ("model_kind", "source", "gguf_sha256") if k in record}
    log_dataset("base-model", record.get("path") or record["source"], record["digest"], context=context, tags=tags)
