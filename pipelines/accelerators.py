"""GPU scheduling of the accelerated training steps (SFT, alignment, RecICL, iLoRA, editing, diffusion), set at
compile time: accelerator type and count, node selectors, tolerations, a memory-backed /dev/shm, and for
`--nodes M > 1` the pipeline workspace that multi-node TrainJobs share with their step.

`recforge compile|submit|schedule NAME --gpus N ...` builds a `GpuSettings` (part of the pipeline's
`CompileSettings`); `configure(task, "gpu", settings)` calls `apply()`. Data, evaluation and report steps never
get them. Standard library and kfp only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from kfp import dsl

from components.common.errors import ConfigError

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
SYSTEM_METRICS_ENV = "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING"
LAUNCHER_ENV = "RECFORGE_LAUNCHER_ONLY"  # the step pod only launches a TrainJob: no GPU of its own
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$")


@dataclass(frozen=True)
class Toleration:
    key: str
    value: str | None
    effect: str

    @classmethod
    def parse(cls, text: str) -> Toleration:
        """`key[=value]:effect`, e.g. `nvidia.com/gpu:NoSchedule` or `dedicated=ml:NoExecute`."""
        head, sep, effect = text.rpartition(":")
        key, eq, value = head.partition("=")
        if not sep or not key or effect not in EFFECTS or (eq and not value):
            raise ConfigError(
                "--toleration", f"got {text!r}; expected key[=value]:effect with effect one of {', '.join(EFFECTS)}"
            )
        return cls(key, value or None, effect)


@dataclass(frozen=True)
class GpuSettings:
    gpus: int = 0
    gpu_type: str = "nvidia.com/gpu"
    node_selectors: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    shm: str = "16Gi"
    nodes: int = 1
    workspace_size: str = "100Gi"

    def __post_init__(self) -> None:
        if self.gpus < 0:
            raise ConfigError("--gpus", f"got {self.gpus}; expected a count >= 0")
        if not 1 <= self.nodes <= 256:
            raise ConfigError("--nodes", f"got {self.nodes}; expected a count from 1 to 256")
        if self.nodes > 1 and self.gpus == 0:
            raise ConfigError("--nodes", f"got {self.nodes} without --gpus; expected --gpus N (GPUs per node)")
        if not _QUANTITY.match(self.workspace_size):
            raise ConfigError(
                "--workspace-size", f"got {self.workspace_size!r}; expected a Kubernetes quantity like 100Gi"
            )
        if not self.gpu_type or " " in self.gpu_type:
            raise ConfigError("--gpu-type", f"got {self.gpu_type!r}; expected a resource name like nvidia.com/gpu")
        if not _QUANTITY.match(self.shm):
            raise ConfigError("--shm", f"got {self.shm!r}; expected a Kubernetes quantity like 16Gi")

    @classmethod
    def from_cli(
        cls,
        gpus: int,
        gpu_type: str,
        node_selectors: list[str],
        tolerations: list[str],
        shm: str,
        nodes: int = 1,
        workspace_size: str = "100Gi",
    ) -> GpuSettings:
        selectors: dict[str, str] = {}
        for item in node_selectors:
            key, eq, value = item.partition("=")
            if not eq or not key or not value:
                raise ConfigError("--node-selector", f"got {item!r}; expected key=value")
            selectors[key] = value
        parsed = tuple(Toleration.parse(t) for t in tolerations)
        return cls(gpus, gpu_type, selectors, parsed, shm, nodes, workspace_size)


def as_dict(toleration: Toleration) -> dict[str, str]:
    """A toleration as Kubernetes writes it: key, operator, value (when Equal), effect."""
    operator = "Equal" if toleration.value is not None else "Exists"
    fields = {"key": toleration.key, "operator": operator, "value": toleration.value, "effect": toleration.effect}
    return {k: v for k, v in fields.items() if v is not None}


def apply(
    task: dsl.PipelineTask, settings: GpuSettings, trainer_image: str, max_gpus: int | None = None
) -> dsl.PipelineTask:
    """Accelerators, scheduling constraints and /dev/shm on one training task (nothing when gpus is 0); a step
    that trains in one process (`max_gpus=1`) gets one GPU whatever `--gpus` says. With `--nodes M > 1` a
    multi-process step (`max_gpus=None`) only stages files and waits for its TrainJob, whose nodes get the GPUs:
    its pod requests none (and says so in RECFORGE_LAUNCHER_ONLY). GPU steps log MLflow system metrics."""
    if settings.gpus == 0:
        return task
    from kfp import kubernetes

    # what a multi-node step puts in its TrainJob (components/common/launch/nodes.py)
    task.set_env_variable("RECFORGE_GPU_TYPE", settings.gpu_type)
    task.set_env_variable("RECFORGE_TRAINER_IMAGE", trainer_image)
    task.set_env_variable(SYSTEM_METRICS_ENV, "true")  # GPU and CPU utilisation, memory, in the step's MLflow run
    if settings.nodes > 1 and max_gpus is None:  # the TrainJob's nodes, not this pod, go to the GPU nodes
        task.set_env_variable(LAUNCHER_ENV, "1")
        task.set_env_variable("RECFORGE_NODE_SELECTOR", json.dumps(dict(settings.node_selectors), sort_keys=True))
        task.set_env_variable("RECFORGE_TOLERATIONS", json.dumps([as_dict(t) for t in settings.tolerations]))
        return task
    count = min(settings.gpus, max_gpus) if max_gpus else settings.gpus
    task.set_accelerator_type(settings.gpu_type).set_accelerator_limit(count)
    for key, value in settings.node_selectors.items():
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    for t in settings.tolerations:
        kubernetes.add_toleration(task, **as_dict(t))
    # NCCL and DataLoader workers need more shared memory than a container's 64 MiB default
    kubernetes.empty_dir_mount(
        task, volume_name="dshm", mount_path="/dev/shm", medium="Memory", size_limit=settings.shm
    )
    return task


def pipeline_config(settings: GpuSettings) -> dsl.PipelineConfig | None:
    """With `--nodes M > 1`: a ReadWriteMany workspace for the run, which the step and its TrainJob nodes share."""
    if settings.nodes == 1:
        return None
    access = dsl.KubernetesWorkspaceConfig(pvcSpecPatch={"accessModes": ["ReadWriteMany"]})
    return dsl.PipelineConfig(workspace=dsl.WorkspaceConfig(size=settings.workspace_size, kubernetes=access))
