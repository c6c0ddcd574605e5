"""The container images recforge steps run in (built from images/*.Dockerfile), in one place beside the components.

Every `component.py` names one of these as its `base_image`. They are the release tags; a pipeline compiled with
other images (`recforge compile --image/--training-image`, or RECFORGE_IMAGE / RECFORGE_TRAINING_IMAGE read by
the CLI) gets them task by task through `PipelineTask.set_container_image` (pipelines/cluster.py).
Standard library only: compiling reads this module.
"""

from __future__ import annotations

RUNTIME_IMAGE = "ghcr.io/recforge/recforge-runtime:0.1.0"  # CPU steps: data, baselines, evaluation, reports
TRAINING_IMAGE = "ghcr.io/recforge/recforge-training:0.1.0"  # CUDA steps: LLM and diffusion training
MLFLOW_IMAGE = "ghcr.io/recforge/recforge-mlflow:0.1.0"  # the tracking server of manifests/ (no step runs in it)
