"""Running SFT in this process; with `sft_nproc > 1` or DeepSpeed as `torchrun --nproc_per_node N` children
(`python -m components.train_sft` on every rank; rank 0 logs to MLflow and writes the model); with `sft_nodes > 1`
as a Kubeflow Trainer TrainJob across nodes (components/common/multinode.py)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path

from components.common.distributed import torchrun, torchrun_command
from components.train_sft.config import SFTConfig

MODULE = "components.train_sft"


def _args(config_path: Path, dataset_dir: str | Path, out_dir: str | Path) -> list[str]:
    return ["--config", str(config_path), "--dataset", str(dataset_dir), "--out", str(out_dir)]


def sft_command(config: SFTConfig, dataset_dir: str | Path, out_dir: str | Path, config_path: Path) -> list[str]:
    return torchrun_command(MODULE, config.sft_nproc, _args(config_path, dataset_dir, out_dir))


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

    if config.sft_nproc == 1 and config.sft_nodes == 1 and not config.sft_deepspeed:  # DeepSpeed needs torchrun
        return train_sft(config, dataset_dir, out_dir, mlflow_run_id=mlflow_run_id)
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "sft.json"
        config_path.write_text(json.dumps(config.to_params()))
        if config.sft_nodes > 1:
            from components.common.multinode import NodeJob, run_on_nodes

            job = NodeJob("sft", kfp_run_id, kfp_job_name, config.sft_nodes, config.sft_nproc, "sft.sft_nodes")

            def args_for(staged: Mapping[str, Path], out: Path) -> list[str]:
                return _args(staged["config"], staged["dataset"], out)

            inputs = {"config": config_path, "dataset": Path(dataset_dir)}
            run_on_nodes(MODULE, job, inputs, Path(out_dir), args_for, mlflow_run_id)
        else:
            torchrun(MODULE, config.sft_nproc, _args(config_path, dataset_dir, out_dir), mlflow_run_id)
    return json.loads((Path(out_dir) / "training.json").read_text())
