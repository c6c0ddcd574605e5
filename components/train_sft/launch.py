"""Running SFT in this process; with `sft_nproc > 1` or DeepSpeed as `torchrun --nproc_per_node N` children
(`python -m components.train_sft` on every rank; rank 0 logs to MLflow and writes the model); with `sft_nodes > 1`
as a Kubeflow Trainer TrainJob across nodes (components/common/multinode.py)."""

from __future__ import annotations

from pathlib import Path

from components.common.distributed import launch_training
from components.train_sft.config import SFTConfig

MODULE = "components.train_sft"


def _args(config_path: Path, dataset_dir: str | Path, out_dir: str | Path) -> list[str]:
    return ["--config", str(config_path), "--dataset", str(dataset_dir), "--out", str(out_dir)]


def run_sft(
    config: SFTConfig,
    dataset_dir: str | Path,
    out_dir: str | Path,
    mlflow_run_id: str | None = None,
    *,
    kfp_run_id: str = "",
    kfp_job_name: str = "",
) -> dict:
    """Train and return the training record (from `out_dir/training.json`)."""
    from components.train_sft.trainer import train_sft

    return launch_training(
        MODULE, config, nproc=config.sft_nproc, nodes=config.sft_nodes, deepspeed=config.sft_deepspeed,
        inputs={"dataset": Path(dataset_dir)}, out_dir=Path(out_dir),
        args_for=lambda staged, out: _args(staged["config"], staged["dataset"], out),
        in_process=lambda: train_sft(config, dataset_dir, out_dir, mlflow_run_id=mlflow_run_id),
        job=("sft", kfp_run_id, kfp_job_name, "sft.sft_nodes"), mlflow_run_id=mlflow_run_id,
    )  # fmt: skip
