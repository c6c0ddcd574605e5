"""Running a training module on several nodes from inside a pipeline step: stage the step's inputs in the
pipeline's workspace volume, run the module there as a Kubeflow Trainer TrainJob (see trainjob.py), then copy the
result back into the step's output.

KFP (>= 2.15) mounts a pipeline's workspace at /kfp-workspace in every step and names its PVC
`<workflow name>-kfp-workspace`; the TrainJob mounts the same claim at the same path, so staged paths mean the
same on every node. `recforge compile --nodes M` gives the pipeline its workspace (ReadWriteMany).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.common import runinfo
from components.common.errors import ConfigError, RecforgeError
from components.common.images import TRAINING_IMAGE
from components.common.launch import trainjob
from components.common.launch.forwarding import plain_environment, secret_references
from components.common.launch.ranks import RUN_ID_ENV

log = logging.getLogger(__name__)
WORKSPACE = "/kfp-workspace"
IMAGE_ENV, GPU_TYPE_ENV = "RECFORGE_TRAINER_IMAGE", "RECFORGE_GPU_TYPE"
PLACEMENT_ENV = ("RECFORGE_NODE_SELECTOR", "RECFORGE_TOLERATIONS")  # JSON, set by `--gpus` with `--nodes` on the step
LAUNCHER_ENV = "RECFORGE_LAUNCHER_ONLY"  # the step pod only launches the TrainJob and has no GPU (accelerators.py)


@dataclass(frozen=True)
class NodeJob:
    """Where a multi-node step runs: its step name, nodes and processes, and (read from the step pod's labels,
    components/common/runinfo.py) its KFP run and the workflow whose workspace PVC the nodes mount."""

    step: str
    nodes: int
    procs_per_node: int
    setting: str  # the config field asking for the nodes, named in errors
    kfp_run_id: str = field(default_factory=runinfo.kfp_run_id)
    kfp_workflow: str = field(default_factory=runinfo.kfp_workflow_name)


def run_on_nodes(
    module: str,
    job: NodeJob,
    inputs: Mapping[str, Path],
    out_dir: Path,
    args_for: Callable[[Mapping[str, Path], Path], list[str]],
    mlflow_run_id: str | None,
    *,
    namespace: str | None = None,
    workspace: Path | None = None,
    runner: Callable[[trainjob.TrainJobSpec, Callable[[str], None]], Any] = trainjob.run,
) -> trainjob.TrainJobSpec:
    """Stage `inputs` (name -> file or folder), run `module` with `args_for(staged inputs, staged output)` as a
    TrainJob of `job.nodes` x `job.procs_per_node`, copy the staged output to `out_dir`; returns the spec used."""
    namespace = namespace or trainjob.in_cluster_namespace()
    if namespace is None:
        raise ConfigError(
            job.setting,
            f"got {job.nodes}; multi-node training runs as a Kubeflow TrainJob from a pipeline step on Kubernetes, "
            "expected 1 outside a cluster",
        )
    workspace = workspace or Path(os.environ.get("RECFORGE_WORKSPACE", WORKSPACE))
    if not workspace.is_dir():
        raise RecforgeError(
            f"{job.setting}: no pipeline workspace at {workspace}; compile the pipeline with --nodes {job.nodes} so "
            "that KFP gives it one"
        )
    name = trainjob.trainjob_name(job.step, job.kfp_run_id)
    stage = workspace / "recforge" / name
    shutil.rmtree(stage, ignore_errors=True)
    staged: dict[str, Path] = {}
    for key, source in inputs.items():
        target = stage / "in" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        if Path(source).is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        staged[key] = target
    staged_out = stage / "out"
    env = plain_environment(os.environ)  # an allow-list; credentials go by reference (forwarding.py)
    if mlflow_run_id:
        env[RUN_ID_ENV] = mlflow_run_id
    gpu_type = os.environ.get(GPU_TYPE_ENV)  # set on the step by `--gpus`: one GPU per process on every node
    spec = trainjob.TrainJobSpec(
        name=name,
        namespace=namespace,
        image=os.environ.get(IMAGE_ENV, TRAINING_IMAGE),
        module=module,
        args=args_for(staged, staged_out),
        nodes=job.nodes,
        procs_per_node=job.procs_per_node,
        gpus_per_node=job.procs_per_node if gpu_type else 0,
        gpu_type=gpu_type or "nvidia.com/gpu",
        claim=f"{job.kfp_workflow}-kfp-workspace",
        env=env,
        secret_env=secret_references(os.environ),
        labels={"recforge.io/step": job.step[:63], "recforge.io/kfp-run-id": job.kfp_run_id[:63]},
        node_selector=json.loads(os.environ.get(PLACEMENT_ENV[0]) or "{}"),
        tolerations=json.loads(os.environ.get(PLACEMENT_ENV[1]) or "[]"),
    )
    runner(spec, log.info)
    if not staged_out.is_dir():
        raise RecforgeError(f"trainjob {name}: completed without writing {staged_out}")
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(staged_out, out_dir)
    shutil.rmtree(stage, ignore_errors=True)
    return spec
