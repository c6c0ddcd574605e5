"""Multi-node training as a Kubeflow Trainer `TrainJob` (trainer.kubeflow.org/v1alpha1): the body, and waiting
for it while streaming its status.

The TrainJob references the `recforge-torch` ClusterTrainingRuntime shipped in `manifests/`, whose torch policy
starts `torchrun` on every node with the rendezvous environment (PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK,
PET_MASTER_ADDR/PORT) set by the Trainer controller: recforge only says which module runs, on how many nodes and
processes, in which image, and, through a `runtimePatches` entry, which claim backs the runtime's `workspace`
volume (the pipeline's workspace PVC, where the step staged its inputs) and which nodes the pods may run on (the
GPU node selector and tolerations the step was compiled with).

The body targets one Kubeflow Trainer release, `kubeflow-trainer-api` (TRAINER_RELEASE, pinned in
pyproject.toml): `validated` reads it back through that release's typed TrainJob model and refuses a field the
release does not know, at any depth (the models would drop it silently: a field the controller never sees).
Checked here against the release's models; not run on a live cluster.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.common.errors import RecforgeError

GROUP, VERSION, PLURAL = "trainer.kubeflow.org", "v1alpha1", "trainjobs"
RUNTIME = "recforge-torch"
TRAINER_RELEASE = "2.3.0"  # kubeflow-trainer-api, the release the body is validated against
PATCH_MANAGER = "recforge.io/pipeline-step"


@dataclass(frozen=True)
class TrainJobSpec:
    """What one multi-node training step asks of the Trainer."""

    name: str
    namespace: str
    image: str
    module: str  # run as `torchrun -m MODULE ARGS` on every node
    args: Sequence[str]
    nodes: int
    procs_per_node: int
    gpus_per_node: int
    gpu_type: str = "nvidia.com/gpu"
    cpu: str = "8"
    memory: str = "64Gi"
    claim: str = ""  # the pipeline's workspace PVC; the runtime mounts it at /kfp-workspace on every node
    env: Mapping[str, str] = field(default_factory=dict)  # plain values (an allow-list: forwarding.py)
    secret_env: Sequence[Mapping[str, Any]] = ()  # EnvVar entries by secretKeyRef, never values
    labels: Mapping[str, str] = field(default_factory=dict)
    node_selector: Mapping[str, str] = field(default_factory=dict)  # where the GPU nodes are
    tolerations: Sequence[Mapping[str, str]] = ()  # Kubernetes tolerations, as dicts


def trainjob_name(step: str, run_id: str) -> str:
    """A DNS-1123 name (<= 63 characters, the TrainJob's limit) unique per step and KFP run."""
    base = re.sub(r"[^a-z0-9-]+", "-", f"recforge-{step}".lower()).strip("-")[:40].rstrip("-")
    suffix = re.sub(r"[^a-z0-9]", "", run_id.lower())[:12] or "local"
    return f"{base}-{suffix}"


def trainjob_body(spec: TrainJobSpec) -> dict[str, Any]:
    """The TrainJob manifest for `spec`."""
    if spec.nodes < 1 or spec.procs_per_node < 1:
        raise RecforgeError(
            f"trainjob {spec.name}: {spec.nodes} nodes x {spec.procs_per_node} processes; expected >= 1"
        )
    resources: dict[str, dict[str, Any]] = {
        "requests": {"cpu": spec.cpu, "memory": spec.memory},
        "limits": {"cpu": spec.cpu, "memory": spec.memory},
    }
    if spec.gpus_per_node:
        resources["requests"][spec.gpu_type] = str(spec.gpus_per_node)
        resources["limits"][spec.gpu_type] = str(spec.gpus_per_node)
    body: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TrainJob",
        "metadata": {
            "name": spec.name,
            "namespace": spec.namespace,
            "labels": {"app.kubernetes.io/part-of": "recforge", **spec.labels},
        },
        "spec": {
            "runtimeRef": {"apiGroup": GROUP, "kind": "ClusterTrainingRuntime", "name": RUNTIME},
            "trainer": {
                "image": spec.image,
                "command": ["torchrun", "-m", spec.module, *spec.args],
                "numNodes": spec.nodes,
                "numProcPerNode": spec.procs_per_node,
                "resourcesPerNode": resources,
                "env": [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
                + [dict(entry) for entry in spec.secret_env],
            },
        },
    }
    pod: dict[str, Any] = {}
    if spec.claim:  # the runtime mounts volume "workspace" at /kfp-workspace; the TrainJob says which claim it is
        pod["volumes"] = [{"name": "workspace", "persistentVolumeClaim": {"claimName": spec.claim}}]
    if spec.node_selector:
        pod["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod["tolerations"] = [dict(t) for t in spec.tolerations]
    if pod:  # the runtime's "node" job, whose pods run torchrun
        node = {"name": "node", "template": {"spec": {"template": {"spec": pod}}}}
        patch = {"replicatedJobs": [node]}
        body["spec"]["runtimePatches"] = [
            {"manager": PATCH_MANAGER, "trainingRuntimeSpec": {"template": {"spec": patch}}}
        ]
    return validated(body)


def _unknown(sent: Any, kept: Any, path: str) -> str | None:
    """The first path of `sent` that the typed round trip `kept` lost."""
    if isinstance(sent, Mapping):
        for key, value in sent.items():
            if not isinstance(kept, Mapping) or key not in kept:
                return f"{path}.{key}"
            lost = _unknown(value, kept[key], f"{path}.{key}")
            if lost:
                return lost
    elif isinstance(sent, list):
        for index, value in enumerate(sent):
            if not isinstance(kept, list) or index >= len(kept):
                return f"{path}[{index}]"
            lost = _unknown(value, kept[index], f"{path}[{index}]")
            if lost:
                return lost
    return None


def validated(body: dict[str, Any]) -> dict[str, Any]:
    """`body`, read through kubeflow-trainer-api's TrainJob model: RecforgeError for a value of the wrong type or a
    field the pinned Trainer release does not have."""
    import pydantic
    from kubeflow_trainer_api.models import TrainerV1alpha1TrainJob

    name = body.get("metadata", {}).get("name", "?")
    try:
        kept = TrainerV1alpha1TrainJob.from_dict(body).to_dict()
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise RecforgeError(
            f"trainjob {name}: {where}: {first['msg']}; expected a TrainJob of Kubeflow Trainer {TRAINER_RELEASE}"
        ) from None
    lost = _unknown(body, kept, "")
    if lost:
        raise RecforgeError(
            f"trainjob {name}: field {lost.lstrip('.')} is not in Kubeflow Trainer {TRAINER_RELEASE}'s TrainJob"
        )
    return body


def describe(status: Mapping[str, Any]) -> str:
    """One line for a TrainJob status: its true conditions with reasons, and job counts."""
    parts = [
        f"{c['type']}" + (f" ({c.get('reason')}: {c.get('message', '')})" if c.get("reason") else "")
        for c in status.get("conditions", [])
        if c.get("status") == "True"
    ]
    for job in status.get("jobsStatus", []):
        counts = ", ".join(f"{k} {job[k]}" for k in ("active", "ready", "succeeded", "failed") if job.get(k))
        if counts:
            parts.append(f"{job.get('name', 'job')}: {counts}")
    return "; ".join(parts) or "created, waiting for the Trainer"


def outcome(status: Mapping[str, Any]) -> str | None:
    """'Complete', 'Failed' or None (still running) from the TrainJob's conditions."""
    for condition in status.get("conditions", []):
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return condition["type"]
    return None


def wait(
    name: str,
    read_status: Callable[[], Mapping[str, Any]],
    report: Callable[[str], None],
    *,
    poll_s: float = 10.0,
    timeout_s: float = 7 * 24 * 3600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Mapping[str, Any]:
    """Poll until the TrainJob completes (returns its status) or fails (RecforgeError with the Trainer's
    message); each change of status is reported once."""
    started, last = clock(), None
    while True:
        status = read_status()
        line = describe(status)
        if line != last:
            report(f"trainjob {name}: {line}")
            last = line
        result = outcome(status)
        if result == "Complete":
            return status
        if result == "Failed":
            failed = next(c for c in status["conditions"] if c.get("type") == "Failed")
            raise RecforgeError(
                f"trainjob {name} failed: {failed.get('reason', '')} {failed.get('message', '')}".strip()
            )
        if clock() - started > timeout_s:
            raise RecforgeError(
                f"trainjob {name}: not finished after {timeout_s:.0f}s; expected Complete or Failed "
                f"(it keeps running: kubectl delete trainjob {name})"
            )
        sleep(poll_s)


def in_cluster_namespace() -> str | None:
    """The namespace of the pod this runs in, or None outside Kubernetes."""
    from pathlib import Path

    path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    return path.read_text().strip() if path.is_file() else None


def run(spec: TrainJobSpec, report: Callable[[str], None]) -> Mapping[str, Any]:
    """Create the TrainJob with the pod's service account (RBAC in manifests/) and wait for it."""
    from kubernetes import client, config

    config.load_incluster_config()
    api = client.CustomObjectsApi()
    create_or_replace(api, spec, report)
    report(f"trainjob {spec.name}: created ({spec.nodes} nodes x {spec.procs_per_node} processes)")

    def read_status() -> Mapping[str, Any]:
        return api.get_namespaced_custom_object(GROUP, VERSION, spec.namespace, PLURAL, spec.name).get("status", {})

    return wait(spec.name, read_status, report)


def create_or_replace(
    api: Any, spec: TrainJobSpec, report: Callable[[str], None], timeout: float = 300, poll: float = 2.0
) -> None:
    """Create the TrainJob; when one of that name exists (a retried step: names are per step and KFP run), delete it
    and its pods first, since this attempt staged its inputs afresh and the old job's outputs are gone."""
    from kubernetes.client.exceptions import ApiException

    body = trainjob_body(spec)
    try:
        api.create_namespaced_custom_object(GROUP, VERSION, spec.namespace, PLURAL, body)
        return
    except ApiException as exc:
        if exc.status != 409:
            raise
    report(f"trainjob {spec.name}: left by an earlier attempt of this step; replacing it")
    api.delete_namespaced_custom_object(
        GROUP, VERSION, spec.namespace, PLURAL, spec.name, propagation_policy="Foreground"
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            api.get_namespaced_custom_object(GROUP, VERSION, spec.namespace, PLURAL, spec.name)
        except ApiException as exc:
            if exc.status == 404:
                break
            raise
        if time.monotonic() > deadline:
            raise RecforgeError(f"trainjob {spec.name}: the earlier attempt's TrainJob was not deleted in {timeout}s")
        time.sleep(poll)
    api.create_namespaced_custom_object(GROUP, VERSION, spec.namespace, PLURAL, body)
