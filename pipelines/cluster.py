"""The one place cluster settings (images, resources, caching, retries, accelerators, the MLflow address) are put
on pipeline tasks, from the `CompileSettings` a pipeline is built with.

Under KFP's local runner these settings are ignored; on a cluster they size each pod, and every pod takes
MLFLOW_TRACKING_URI from the ConfigMap `recforge-mlflow` that manifests/ installs (optional: without it a step
logs to a store inside its pod); `CompileSettings.mlflow_configmap` names another one, or none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kfp import dsl

from components.common.images import RUNTIME_IMAGE, TRAINING_IMAGE
from components.common.launch.forwarding import SECRET_NAME_ENV, SECRET_VARIABLES
from components.common.runinfo import POD_FIELDS
from pipelines.accelerators import apply
from pipelines.settings import CompileSettings


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


def configure(
    task: dsl.PipelineTask, profile: str, settings: CompileSettings, *, caching: bool = True
) -> dsl.PipelineTask:
    """Apply the named profile to `task` (requests = limits for CPU steps), its caching policy, the images of
    `settings` (when they are not the release images the components name) and, on GPU profiles, accelerators.

    Every step is a deterministic function of its inputs (seeded) and is cached, so a run repeating an earlier
    run's inputs reuses its outputs; `caching=False` is for steps with effects beyond their outputs (the model
    registry)."""
    p = PROFILES[profile]
    task.set_cpu_request(p.cpu).set_cpu_limit(p.cpu)
    task.set_memory_request(p.memory).set_memory_limit(p.memory)
    if p.retries and not settings.local:  # locally a failure is never transient (no evictions, no lost nodes)
        task.set_retry(num_retries=p.retries)
    task.set_caching_options(enable_caching=caching)
    swap = {RUNTIME_IMAGE: settings.image, TRAINING_IMAGE: settings.training_image}
    image = task.container_spec.image if task.container_spec else None
    if image in swap and swap[image] != image:
        task.set_container_image(swap[image])
    if not settings.local:  # which run the pod belongs to, outside the cache key (components/common/runinfo.py)
        from kfp import kubernetes

        for env_name, field_path in POD_FIELDS.items():
            kubernetes.use_field_path_as_env(task, env_name=env_name, field_path=field_path)
    if settings.mlflow_configmap:
        from kfp import kubernetes

        kubernetes.use_config_map_as_env(
            task, settings.mlflow_configmap, {"MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI"}, optional=True
        )
    if settings.credentials_secret and not settings.local:  # credentials by reference, never in the IR
        from kfp import kubernetes

        kubernetes.use_secret_as_env(
            task, settings.credentials_secret, {name: name for name in SECRET_VARIABLES}, optional=True
        )
        task.set_env_variable(SECRET_NAME_ENV, settings.credentials_secret)  # TrainJobs refer to the same Secret
    if profile.startswith("gpu"):
        apply(task, settings.gpu, settings.training_image, max_gpus=1 if profile == "gpu-1" else None)
    return task


def schedule_time(settings: CompileSettings) -> str:
    """KFP's schedule-time placeholder for steps that read their data "as of" the run's scheduled time.

    KFP's local runner cannot resolve that placeholder, so local builds get an empty string, meaning: all data.
    """
    return "" if settings.local else dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER


def under_exit_handler(settings: CompileSettings, dag: Callable[[], Any]) -> dsl.PipelineTask:
    """Build `dag` (the pipeline's tasks) inside a dsl.ExitHandler whose task ends the run's MLflow parent run with
    the run's final state (components/close_run), succeeded or not; returns that task."""
    from components.close_run.component import close_pipeline_run

    closer = configure(close_pipeline_run(), "light", settings, caching=False)
    closer.set_display_name("close-mlflow-run")
    with dsl.ExitHandler(closer, name="pipeline"):
        dag()
    return closer
