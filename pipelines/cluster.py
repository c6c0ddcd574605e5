"""The one place cluster settings (resources, caching, retries, the MLflow address) are put on pipeline tasks.

Under KFP's local runner these settings are ignored; on a cluster they size each pod, and every pod takes
MLFLOW_TRACKING_URI from the ConfigMap `recforge-mlflow` that manifests/ installs (optional: without it a step
logs to a store inside its pod). RECFORGE_MLFLOW_CONFIGMAP names another ConfigMap at compile time; empty: none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kfp import dsl


@dataclass(frozen=True)
class Profile:
    """Resource requests and limits of one kind of step."""

    cpu: str
    memory: str
    retries: int = 0


PROFILES = {
    "data": Profile(cpu="1", memory="4Gi", retries=1),
    "light": Profile(cpu="500m", memory="1Gi", retries=1),
    "train": Profile(cpu="4", memory="16Gi", retries=0),
    # LLM and diffusion training: the steps `--gpus` puts accelerators on (see pipelines/accelerators.py);
    # "gpu" steps start one process per GPU (SFT, alignment), "gpu-1" steps train in one process and get one GPU
    "gpu": Profile(cpu="8", memory="64Gi", retries=0),
    "gpu-1": Profile(cpu="8", memory="64Gi", retries=0),
    "evaluate": Profile(cpu="2", memory="8Gi", retries=1),
}


def configure(task: dsl.PipelineTask, profile: str, *, caching: bool = False) -> dsl.PipelineTask:
    """Apply the named profile to `task` (requests = limits for CPU steps) and its caching policy."""
    p = PROFILES[profile]
    task.set_cpu_request(p.cpu).set_cpu_limit(p.cpu)
    task.set_memory_request(p.memory).set_memory_limit(p.memory)
    if p.retries:
        task.set_retry(num_retries=p.retries)
    task.set_caching_options(enable_caching=caching)
    configmap = os.environ.get("RECFORGE_MLFLOW_CONFIGMAP", "recforge-mlflow")
    if configmap:
        from kfp import kubernetes

        kubernetes.use_config_map_as_env(task, configmap, {"MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI"}, optional=True)
    if profile.startswith("gpu"):
        from pipelines.accelerators import apply, from_env

        apply(task, from_env(), max_gpus=1 if profile == "gpu-1" else None)
    return task


def loop_parallelism() -> int:
    """How many ParallelFor iterations run at once (RECFORGE_LOOP_PARALLELISM, default 4).

    Read when a pipeline module is loaded. The local runner sets 1: each training process already uses every
    core, and two of them on a small machine spend their time contending for the cores (measured 10x slower).
    """
    return max(1, int(os.environ.get("RECFORGE_LOOP_PARALLELISM", "4")))


def schedule_time() -> str:
    """KFP's schedule-time placeholder for steps that read their data "as of" the run's scheduled time.

    KFP's local runner cannot resolve that placeholder, so local runs (RECFORGE_LOCAL=1, set by the local runner)
    get an empty string, meaning: all data.
    """
    if os.environ.get("RECFORGE_LOCAL"):
        return ""
    return dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER
