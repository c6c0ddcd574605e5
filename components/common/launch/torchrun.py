"""Running a module as `torchrun --standalone --nproc_per_node N -m MODULE ...` on this machine and waiting for it.

The children inherit the environment (MLflow included); the step's MLflow run id travels as RECFORGE_MLFLOW_RUN_ID
so that rank 0 logs into it. gloo on CPU, NCCL on GPU (chosen by the trainers).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from components.common.errors import RecforgeError
from components.common.launch.ranks import RUN_ID_ENV


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
