"""Lineage from MLflow: which raw source and which step runs led to a run's outputs.

Steps record their inputs with `mlflow.log_input` (name, digest, source) and their outputs as
`recforge.output.<name>.digest/.uri` tags; a dataset input is linked to the step run whose output has the
same digest. A pipeline run that reused a step from KFP's cache has no run of that step: its parent run names the
run that made the reused outputs (`recforge.reused.<task>`), and the lineage shows that run in its place. Run
searches page through MLflow's results (one page holds at most 1,000 runs). `lineage(run_id)` returns the chain
oldest first; `format_lineage` prints it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from components.common.errors import RecforgeError
from components.common.tracking import TAG_OUTPUT, TAG_PARENT, TAG_PIPELINE, TAG_REUSED, TAG_STEP, _mlflow

PAGE = 1000  # MLflow's largest search page


@dataclass
class DatasetRef:
    name: str
    digest: str
    source: str
    context: str
    produced_by: str | None = None  # run id of the step whose output it is


@dataclass
class StepNode:
    run_id: str
    name: str
    status: str
    start_time: int
    inputs: list[DatasetRef] = field(default_factory=list)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> {uri, digest}
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    reused_in: str = ""  # the task name, when this run's outputs were reused by the pipeline run asked about


@dataclass
class Lineage:
    pipeline: str
    parent_run_id: str | None
    status: str
    params: dict[str, str]
    steps: list[StepNode]  # oldest first; for a step run, the steps it depends on come before it


def _node(run: Any) -> StepNode:
    outputs: dict[str, dict[str, str]] = {}
    for key, value in run.data.tags.items():
        if key.startswith(TAG_OUTPUT + "."):
            name, _, attr = key[len(TAG_OUTPUT) + 1 :].rpartition(".")
            outputs.setdefault(name, {})[attr] = value
    inputs = []
    for item in run.inputs.dataset_inputs if run.inputs else []:
        tags = {t.key: t.value for t in item.tags}
        try:
            source = json.loads(item.dataset.source).get("uri", item.dataset.source)
        except (TypeError, ValueError):
            source = item.dataset.source
        inputs.append(DatasetRef(item.dataset.name, item.dataset.digest, source, tags.get("mlflow.data.context", "")))
    return StepNode(
        run_id=run.info.run_id,
        name=run.data.tags.get(TAG_STEP, run.info.run_name or run.info.run_id),
        status=run.info.status,
        start_time=run.info.start_time or 0,
        inputs=inputs,
        outputs=outputs,
        metrics=dict(run.data.metrics),
        params=dict(run.data.params),
    )


def lineage(run_id: str, uri: str) -> Lineage:
    """The chain behind `run_id`: a pipeline's parent run (all its steps) or one step run (its producers)."""
    mlflow = _mlflow()
    client = mlflow.MlflowClient(tracking_uri=uri)
    try:
        run = client.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise RecforgeError(f"lineage: no MLflow run {run_id!r} in {uri}; expected a run id") from None
    experiments = [e.experiment_id for e in client.search_experiments()]
    if TAG_PARENT not in run.data.tags:
        children = [_node(c) for c in search_all(client, experiments, f"tags.`{TAG_PARENT}` = '{run_id}'")]
        for key, original in sorted(run.data.tags.items()):
            if key.startswith(TAG_REUSED + ".") and original:
                children.append(_node(client.get_run(original)))
                children[-1].reused_in = key[len(TAG_REUSED) + 1 :]
        steps = sorted(children, key=lambda n: n.start_time)
        _link(steps, producers(client, experiments))
        return Lineage(run.data.tags.get(TAG_PIPELINE, ""), run_id, run.info.status, dict(run.data.params), steps)
    chain: list[StepNode] = []
    _walk(_node(run), producers(client, experiments), chain, set())
    parent = client.get_run(run.data.tags[TAG_PARENT])
    return Lineage(run.data.tags.get(TAG_PIPELINE, ""), parent.info.run_id, parent.info.status,
                   dict(parent.data.params), chain)  # fmt: skip


def search_all(client: Any, experiments: list[str], filter_string: str) -> list[Any]:
    """Every run matching `filter_string`, page after page."""
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(experiments, filter_string=filter_string, max_results=PAGE, page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def producers(client: Any, experiments: list[str]) -> dict[str, Any]:
    """Output digest -> the step run that recorded it (the newest, where several did), from one paged scan of
    every step run."""
    found: dict[str, Any] = {}
    for run in search_all(client, experiments, f"tags.`{TAG_STEP}` != ''"):  # newest first
        for key, value in run.data.tags.items():
            if key.startswith(TAG_OUTPUT) and key.endswith(".digest") and value:
                found.setdefault(value, run)
    return found


def _link(steps: list[StepNode], index: dict[str, Any]) -> None:
    for step in steps:
        for ref in step.inputs:
            producer = index.get(ref.digest)
            ref.produced_by = producer.info.run_id if producer is not None else None


def _walk(node: StepNode, index: dict[str, Any], chain: list[StepNode], seen: set[str]) -> None:
    seen.add(node.run_id)
    for ref in node.inputs:
        producer = index.get(ref.digest)
        if producer is not None:
            ref.produced_by = producer.info.run_id
            if producer.info.run_id not in seen:
                _walk(_node(producer), index, chain, seen)
    chain.append(node)


def format_lineage(info: Lineage, max_metrics: int = 8) -> str:
    lines = [f"pipeline {info.pipeline} · run {info.parent_run_id} ({info.status})"]
    if info.params:
        lines.append("  params: " + ", ".join(f"{k}={v}" for k, v in sorted(info.params.items())))
    names = {s.run_id: s.name for s in info.steps}
    for index, step in enumerate(info.steps, start=1):
        reused = f", reused as {step.reused_in} from an earlier pipeline run" if step.reused_in else ""
        lines.append(f"  [{index}] step {step.name} · run {step.run_id} ({step.status}{reused})")
        for ref in step.inputs:
            origin = f" <- output of {names.get(ref.produced_by, ref.produced_by)}" if ref.produced_by else ""
            lines.append(
                f"      in  {ref.context or 'input'}: {ref.name} digest {ref.digest} from {ref.source}{origin}"
            )
        for name, out in sorted(step.outputs.items()):
            lines.append(f"      out {name}: digest {out.get('digest', '?')} at {out.get('uri', '?')}")
        if step.metrics:
            shown = list(sorted(step.metrics.items()))[:max_metrics]
            lines.append("      metrics: " + ", ".join(f"{k}={v:g}" for k, v in shown))
    return "\n".join(lines)


def model_lineage(reference: str, uri: str) -> str:
    """The lineage of a registered model version: 'name' (its champion), 'name@alias' or 'name/version'."""
    mlflow = _mlflow()
    client = mlflow.MlflowClient(tracking_uri=uri)
    name, _, version = reference.partition("/")
    name, _, alias = name.partition("@")
    try:
        found = client.get_model_version(name, version) if version else None
    except mlflow.exceptions.MlflowException:
        raise RecforgeError(f"lineage: no model version {reference!r} in {uri}; expected name/version") from None
    if found is None:
        try:
            found = client.get_model_version_by_alias(name, alias or "champion")
        except mlflow.exceptions.MlflowException:
            raise RecforgeError(
                f"lineage: no registered model {name!r} with alias {alias or 'champion'!r} in {uri}; "
                "expected name, name@alias or name/version"
            ) from None
    tags = found.tags or {}
    aliases = f" ({', '.join('@' + a for a in found.aliases)})" if found.aliases else ""
    lines = [f"model {found.name} version {found.version}{aliases} · source {found.source}"]
    keys = ("model", "selection_metric", "selection_value", "dataset", "dataset_digest", "model_digest",
            "train_run", "eval_run")  # fmt: skip
    for key in (f"recforge.{k}" for k in keys):
        if key in tags:
            lines.append(f"  {key.removeprefix('recforge.')}: {tags[key]}")
    parent = tags.get("recforge.parent_run")
    if parent:
        info = lineage(parent, uri)
        marks = {tags.get("recforge.train_run"): "trained it", tags.get("recforge.eval_run"): "evaluated it"}
        text = format_lineage(info)
        for run_id, mark in marks.items():
            if run_id:
                text = text.replace(f"run {run_id} (", f"run {run_id} [{mark}] (")
        lines += ["", text]
    return "\n".join(lines)
