"""Running SFT in this process or, with `sft_nproc > 1`, as `torchrun --nproc_per_node N` children.

The children run `python -m components.train_sft` with the same config; rank 0 logs into the step's MLflow run
(passed as RECFORGE_MLFLOW_RUN_ID) and writes the model. The same path runs with gloo on CPU in the tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from components.common.errors import RecforgeError
from components.train_sft.config import SFTConfig

RUN_ID_ENV = "RECFORGE_MLFLOW_RUN_ID"


def torchrun_command(config: SFTConfig, dataset_dir: str | Path, out_dir: str | Path, config_path: Path) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={config.sft_nproc}",
        "-m", "components.train_sft",
        "--config", str(config_path), "--dataset", str(dataset_dir), "--out", str(out_dir),
    ]  # fmt: skip


def run_sft(config: SFTConfig, dataset_dir: str | Path, out_dir: str | Path, mlflow_run_id: str | None = None) -> dict:
    """Train and return the training record (from `out_dir/training.json`)."""
    from components.train_sft.trainer import train_sft

    if config.sft_nproc == 1:
        return train_sft(config, dataset_dir, out_dir, mlflow_run_id=mlflow_run_id)
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "sft.json"
        config_path.write_text(json.dumps(config.to_params()))
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        if mlflow_run_id:
            env[RUN_ID_ENV] = mlflow_run_id
        done = subprocess.run(torchrun_command(config, dataset_dir, out_dir, config_path), env=env)
    if done.returncode != 0:
        raise RecforgeError(f"sft: torchrun with {config.sft_nproc} processes failed (exit code {done.returncode})")
    return json.loads((Path(out_dir) / "training.json").read_text())
