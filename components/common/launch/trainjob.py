"""Multi-node training as a Kubeflow Trainer `TrainJob` (trainer.kubeflow.org/v1alpha1): the body, and waiting
for it while streaming its status.

The TrainJob references the `recforge-torch` ClusterTrainingRuntime shipped in `manifests/`, whose torch policy
starts `torchrun` on every node with the rendezvous environment (PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK,
PET_MASTER_ADDR/PORT) set by the Trainer controller: recforge only says which module runs, on how many nodes and
processes, in which image, and which claim backs the runtime's `workspace` volume (the pipeline's workspace PVC,
where the step staged its inputs). Verified against the Trainer's API reference, not on a live cluster here.
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
    env: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


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
        resources["requests"][spec.gpu_type] = spec.gpus_per_node
        resources["limits"][spec.gpu_type] = spec.gpus_per_node
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
                "env": [{"name": k, "value": v} for k, v in sorted(spec.env.items())],
            },
        },
    }
    if spec.claim:  # the runtime mounts volume "workspace" at /kfp-workspace; the TrainJob says which claim it is
        body["spec"]["podTemplateOverrides"] = [
            {
                "targetJobs": [{"name": "node"}],
                "spec": {"volumes": [{"name": "workspace", "persistentVolumeClaim": {"claimName": spec.claim}}]},
            }
        ]
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
    api.create_namespaced_custom_object(GROUP, VERSION, spec.namespace, PLURAL, trainjob_body(spec))
    report(f"trainjob {spec.name}: created ({spec.nodes} nodes x {spec.procs_per_node} processes)")

    def read_status() -> Mapping[str, Any]:
        return api.get_namespaced_custom_object(GROUP, VERSION, spec.namespace, PLURAL, spec.name).get("status", {})

    return wait(spec.name, read_status, report)
