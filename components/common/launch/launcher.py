"""The choice every training step makes (`launch_training`): run its trainer in this process (one process, no
DeepSpeed), as `torchrun` children on this machine (`procs_per_node > 1` or DeepSpeed), or as a Kubeflow Trainer
TrainJob on `nodes > 1` machines.

A trainer is a plain function `trainer(config, *, <inputs>..., out_dir, mlflow_run_id) -> record` that writes
`out_dir/training.json`; in every case but the first, each rank runs it through `python -m components.common.launch`
with the config as a JSON file, and the record is read back from that file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from components.common.config import StepConfig
from components.common.errors import ConfigError
from components.common.launch.nodes import LAUNCHER_ENV, NodeJob, run_on_nodes
from components.common.launch.torchrun import torchrun

ENTRY_MODULE = "components.common.launch"


def reference(obj: Any) -> str:
    """`module:name` of a function or class, as the rank entry point imports it back."""
    return f"{obj.__module__}:{obj.__qualname__}"


def rank_arguments(
    trainer: Callable[..., dict], config: StepConfig, config_path: Path, inputs: Mapping[str, Path], out_dir: Path
) -> list[str]:
    """The command line of `python -m components.common.launch` that runs `trainer` on one rank."""
    args = ["--trainer", reference(trainer), "--config-class", reference(type(config)), "--config", str(config_path)]
    for name, path in inputs.items():
        args += ["--input", f"{name}={path}"]
    return [*args, "--out", str(out_dir)]


def launch_training(
    trainer: Callable[..., dict],
    config: StepConfig,
    inputs: Mapping[str, Path],
    out_dir: Path,
    job: NodeJob,
    *,
    deepspeed: str,
    mlflow_run_id: str | None,
) -> dict:
    """Train `config` on `inputs` (trainer keyword -> file or folder) into `out_dir`; returns the training record."""
    if job.nodes == 1 and os.environ.get(LAUNCHER_ENV):
        raise ConfigError(
            job.setting,
            "got 1, but this step was compiled with --nodes M > 1 and its pod has no GPU of its own (it launches a "
            "TrainJob); expected > 1, or recompile without --nodes",
        )
    if job.procs_per_node == 1 and job.nodes == 1 and not deepspeed:
        return trainer(config, **inputs, out_dir=out_dir, mlflow_run_id=mlflow_run_id)
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "config.json"
        config_path.write_text(json.dumps(config.to_params()))
        staged = {"config": config_path, **inputs}

        def args_for(paths: Mapping[str, Path], out: Path) -> list[str]:
            return rank_arguments(trainer, config, paths["config"], {k: paths[k] for k in inputs}, out)

        if job.nodes > 1:
            run_on_nodes(ENTRY_MODULE, job, staged, out_dir, args_for, mlflow_run_id)
        else:
            torchrun(ENTRY_MODULE, job.procs_per_node, args_for(staged, out_dir), mlflow_run_id)
    return json.loads((out_dir / "training.json").read_text())
