"""Compile-time settings of a pipeline, as one typed object handed to the function that builds it.

GPUs, nodes and scheduling (`GpuSettings`, pipelines/accelerators.py), the images the steps run in, the MLflow
ConfigMap every pod reads MLFLOW_TRACKING_URI from, how many ParallelFor iterations run at once, and whether the
pipeline is built for KFP's local runner. The environment is read here once, by the CLI (`from_environment`);
nothing else in `pipelines/` reads it. Standard library and kfp only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from components.common.errors import ConfigError
from components.common.images import RUNTIME_IMAGE, TRAINING_IMAGE
from components.common.launch.forwarding import CREDENTIALS_SECRET, SECRET_NAME_ENV
from pipelines.accelerators import GpuSettings

ENV_IMAGE, ENV_TRAINING_IMAGE = "RECFORGE_IMAGE", "RECFORGE_TRAINING_IMAGE"
ENV_CONFIGMAP, ENV_PARALLELISM = "RECFORGE_MLFLOW_CONFIGMAP", "RECFORGE_LOOP_PARALLELISM"


@dataclass(frozen=True)
class CompileSettings:
    """How a pipeline is built; the defaults compile the release images for a cluster without GPUs."""

    gpu: GpuSettings = field(default_factory=GpuSettings)
    image: str = RUNTIME_IMAGE  # the CPU steps' image
    training_image: str = TRAINING_IMAGE  # the training steps' image (and what multi-node TrainJobs run)
    mlflow_configmap: str = "recforge-mlflow"  # empty: steps get no MLFLOW_TRACKING_URI from a ConfigMap
    credentials_secret: str = CREDENTIALS_SECRET  # optional Secret of MLflow/HF/AWS credentials; empty: none
    loop_parallelism: int = 4  # ParallelFor iterations at once
    local: bool = False  # built for kfp.local: no schedule-time placeholder (it cannot resolve it)

    def __post_init__(self) -> None:
        for flag, image in (("--image", self.image), ("--training-image", self.training_image)):
            if not image or any(c.isspace() for c in image) or image != image.strip("/:@"):
                raise ConfigError(
                    flag, f"got {image!r}; expected an image reference like registry/name:tag or name@sha256:..."
                )
        if self.loop_parallelism < 1:
            raise ConfigError(ENV_PARALLELISM, f"got {self.loop_parallelism}; expected a count >= 1")

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str],
        *,
        gpu: GpuSettings | None = None,
        image: str | None = None,
        training_image: str | None = None,
        local: bool = False,
    ) -> CompileSettings:
        """The CLI's settings: flags first, then RECFORGE_IMAGE / RECFORGE_TRAINING_IMAGE /
        RECFORGE_MLFLOW_CONFIGMAP / RECFORGE_CREDENTIALS_SECRET / RECFORGE_LOOP_PARALLELISM (default 4; 1 for local
        runs, where each training process already uses every core and two of them contend for a small machine's
        cores, measured 10x slower)."""
        parallelism = environ.get(ENV_PARALLELISM, "1" if local else "4")
        if not parallelism.strip().isdigit():
            raise ConfigError(ENV_PARALLELISM, f"got {parallelism!r}; expected a count >= 1")
        return cls(
            gpu=gpu or GpuSettings(),
            image=image if image is not None else environ.get(ENV_IMAGE, RUNTIME_IMAGE),
            training_image=training_image
            if training_image is not None
            else environ.get(ENV_TRAINING_IMAGE, TRAINING_IMAGE),
            mlflow_configmap=environ.get(ENV_CONFIGMAP, "recforge-mlflow"),
            credentials_secret=environ.get(SECRET_NAME_ENV, CREDENTIALS_SECRET),
            loop_parallelism=int(parallelism),
            local=local,
        )


LOCAL = CompileSettings(loop_parallelism=1, local=True)  # what kfp.local runs get unless the CLI says otherwise
