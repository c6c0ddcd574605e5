"""Running SFT in this process or, with `sft_nproc > 1`, as `torchrun --nproc_per_node N` children
(`python -m components.train_sft` on every rank; rank 0 logs to MLflow and writes the model)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from components.common.distributed import torchrun, torchrun_command
from components.train_sft.config import SFTConfig

MODULE = "components.train_sft"


def _args(config_path: Path, dataset_dir: str | Path, out_dir: str | Path) -> list[str]:
    return ["--config", str(config_path), "--dataset", str(dataset_dir), "--out", str(out_dir)]


def sft_command(config: SFTConfig, dataset_dir: str | Path, out_dir: str | Path, config_path: Path) -> list[str]:
    return torchrun_command(MODULE, config.sft_nproc, _args(config_path, dataset_dir, out_dir))


def run_sft(config: SFTConfig, dataset_dir: str | Path, out_dir: str | Path, mlflow_run_id: str | None = None) -> dict:
    """Train and return the training record (from `out_dir/training.json`)."""
    from components.train_sft.trainer import train_sft

    if config.sft_nproc == 1 and not config.sft_deepspeed:  # DeepSpeed always runs under torchrun
        return train_sft(config, dataset_dir, out_dir, mlflow_run_id=mlflow_run_id)
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "sft.json"
        config_path.write_text(json.dumps(config.to_params()))
        torchrun(MODULE, config.sft_nproc, _args(config_path, dataset_dir, out_dir), mlflow_run_id)
    return json.loads((Path(out_dir) / "training.json").read_text())
