"""The alignment step's body: launch the training (this process, torchrun or a TrainJob; components/common/launch)
and record in MLflow the inputs, held-out pair metrics before and after, and the model."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow

from components.align.config import AlignConfig
from components.common import tracking
from components.common.launch.launcher import launch_training
from components.common.launch.nodes import NodeJob


def run_alignment(
    config: AlignConfig,
    prefs_dir: str | Path,
    sft_dir: str | Path,
    out_dir: str | Path,
    mlflow_run_id: str | None = None,
) -> dict:
    """Train where `align_nproc`, `align_nodes` and `align_deepspeed` say; returns the training record."""
    from components.align.trainer import train_alignment

    job = NodeJob(
        f"align-{config.align_loss}", config.align_nodes, config.align_nproc,
        "align.align_nodes",
    )  # fmt: skip
    inputs = {"prefs_dir": Path(prefs_dir), "sft_dir": Path(sft_dir)}
    return launch_training(
        train_alignment, config, inputs, Path(out_dir), job,
        deepspeed=config.align_deepspeed, mlflow_run_id=mlflow_run_id,
    )  # fmt: skip


def align_and_track(config: AlignConfig, prefs_dir: str | Path, sft_dir: str | Path, out_dir: str | Path) -> dict:
    stats = json.loads((Path(prefs_dir) / "stats.json").read_text())
    tracking.log_dataset("preferences", str(prefs_dir), tracking.digest_of(prefs_dir), context="training")
    tracking.log_model_input("sft-model", sft_dir)
    mlflow.set_tag("recforge.loss", config.align_loss)
    run = mlflow.active_run()
    record = run_alignment(config, prefs_dir, sft_dir, out_dir, mlflow_run_id=run.info.run_id)
    mlflow.log_params({f"hparam_{k}": v for k, v in record["hparams"].items()})
    mlflow.log_metrics({f"heldout_{k}_before": v for k, v in record["before"].items()})
    mlflow.log_metrics({f"heldout_{k}": v for k, v in record["after"].items()})
    mlflow.log_metrics(
        {"pairs": stats["pairs"], "global_step": record["global_step"], "train_loss": record["train_loss"]}
    )
    digest = tracking.write_lineage_and_log_output(out_dir)
    return {"digest": digest, **record["after"]}
