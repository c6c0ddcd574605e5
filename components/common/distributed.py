"""Launching a training module as `torchrun --standalone --nproc_per_node N -m MODULE ...` and waiting for it, and
the choice every trainer makes between this process, torchrun and a multi-node TrainJob (`launch_training`).

The children inherit the environment (MLflow included); the step's MLflow run id travels as
RECFORGE_MLFLOW_RUN_ID so that rank 0 logs into it. gloo on CPU, NCCL on GPU (chosen by the trainers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from components.common.errors import RecforgeError

RUN_ID_ENV = "RECFORGE_MLFLOW_RUN_ID"


def torchrun_command(module: str, nproc: int, args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            "-m", module, *args]  # fmt: skip


def torchrun(module: str, nproc: int, args: Sequence[str], mlflow_run_id: str | None = None) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if mlflow_run_id:
        env[RUN_ID_ENV] = mlflow_run_id
    done = subprocess.run(torchrun_command(module, nproc, args), env=env)
    if done.returncode != 0:
        raise RecforgeError(f"{module}: torchrun with {nproc} processes failed (exit code {done.returncode})")


def launch_training(
    module: str,
    config: Any,
    *,
    nproc: int,
    nodes: int,
    deepspeed: str,
    inputs: Mapping[str, Path],
    out_dir: Path,
    args_for: Callable[[Mapping[str, Path], Path], list[str]],
    in_process: Callable[[], dict],
    job: tuple[str, str, str, str],
    mlflow_run_id: str | None,
) -> dict:
    """Where a training step runs: in this process (1 process, no DeepSpeed); as `torchrun` children on this
    machine (`nproc > 1` or DeepSpeed); or as a Kubeflow TrainJob on `nodes > 1` machines. The config travels as
    the JSON file `inputs["config"]` for `args_for(inputs, out_dir)`; `job` is (step, kfp run id, KFP pipeline job
    name, the config field naming the nodes). Returns the training record of `out_dir/training.json`."""
    if nproc == 1 and nodes == 1 and not deepspeed:
        return in_process()
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "config.json"
        config_path.write_text(json.dumps(config.to_params()))
        staged = {"config": config_path, **inputs}
        if nodes > 1:
            from components.common.multinode import NodeJob, run_on_nodes

            step, kfp_run_id, kfp_job_name, setting = job
            node_job = NodeJob(step, kfp_run_id, kfp_job_name, nodes, nproc, setting)
            run_on_nodes(module, node_job, staged, out_dir, args_for, mlflow_run_id)
        else:
            torchrun(module, nproc, args_for(staged, out_dir), mlflow_run_id)
    return json.loads((out_dir / "training.json").read_text())
