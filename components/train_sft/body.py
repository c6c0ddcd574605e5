"""The SFT step's body: launch the training (this process, torchrun or a TrainJob; components/common/launch) and
record in MLflow the prepared input, the training summary and the model output."""

from __future__ import annotations

from pathlib import Path

import mlflow

from components.common import tracking
from components.common.base_model import read_reference
from components.common.launch.launcher import launch_training
from components.common.launch.nodes import NodeJob
from components.train_sft.config import SFTConfig


def run_sft(
    config: SFTConfig,
    dataset_dir: str | Path,
    out_dir: str | Path,
    mlflow_run_id: str | None = None,
) -> dict:
    """Train where `sft_nproc`, `sft_nodes` and `sft_deepspeed` say; returns the training record."""
    from components.train_sft.trainer import train_sft

    job = NodeJob("sft", config.sft_nodes, config.sft_nproc, "sft.sft_nodes")
    return launch_training(
        train_sft, config, {"dataset_dir": Path(dataset_dir)}, Path(out_dir), job,
        deepspeed=config.sft_deepspeed, mlflow_run_id=mlflow_run_id,
    )  # fmt: skip


def sft_and_track(config: SFTConfig, dataset_dir: str | Path, base_dir: str | Path, out_dir: str | Path) -> dict:
    tracking.log_prepared(dataset_dir, context="training")
    tracking.log_base_model(read_reference(base_dir, config.base_model))
    run = mlflow.active_run()
    record = run_sft(config, dataset_dir, out_dir, mlflow_run_id=run.info.run_id)
    keys = ("examples", "train_prompts_shortened", "global_step", "train_loss", "eval_loss", "trainable_parameters")
    summary = {k: record[k] for k in keys}
    if record.get("initial_eval_loss") is not None:
        summary["initial_eval_loss"] = record["initial_eval_loss"]
    mlflow.log_metrics({k: float(v) for k, v in summary.items()})
    mlflow.set_tag("recforge.resumed_from", str(record.get("resumed_from")))
    digest = tracking.write_lineage_and_log_output(out_dir)
    return {"digest": digest, **summary}
