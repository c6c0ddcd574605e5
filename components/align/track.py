"""What the alignment step records in MLflow: inputs, held-out pair metrics before and after, the model."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow

from components.align.config import AlignConfig
from components.common import tracking
from components.common.distributed import launch_training


def align_args(config_path: Path, prefs_dir: str | Path, sft_dir: str | Path, out_dir: str | Path) -> list[str]:
    return ["--config", str(config_path), "--prefs", str(prefs_dir), "--sft", str(sft_dir), "--out", str(out_dir)]


def run_alignment(
    config: AlignConfig,
    prefs_dir: str | Path,
    sft_dir: str | Path,
    out_dir: str | Path,
    mlflow_run_id: str | None = None,
    *,
    kfp_run_id: str = "",
    kfp_job_name: str = "",
) -> dict:
    """In this process; under torchrun with `align_nproc > 1` or DeepSpeed; as a TrainJob with `align_nodes > 1`.
    Returns the training record."""
    from components.align.trainer import train_alignment

    return launch_training(
        "components.align", config, nproc=config.align_nproc, nodes=config.align_nodes,
        deepspeed=config.align_deepspeed, inputs={"prefs": Path(prefs_dir), "sft": Path(sft_dir)},
        out_dir=Path(out_dir),
        args_for=lambda staged, out: align_args(staged["config"], staged["prefs"], staged["sft"], out),
        in_process=lambda: train_alignment(config, prefs_dir, sft_dir, out_dir, mlflow_run_id=mlflow_run_id),
        job=(f"align-{config.align_loss}", kfp_run_id, kfp_job_name, "align.align_nodes"),
        mlflow_run_id=mlflow_run_id,
    )  # fmt: skip


def align_and_track(
    config: AlignConfig, prefs_dir: str | Path, sft_dir: str | Path, out_dir: str | Path, kfp_job_name: str = ""
) -> dict:
    stats = json.loads((Path(prefs_dir) / "stats.json").read_text())
    tracking.log_dataset("preferences", str(prefs_dir), tracking.digest_of(prefs_dir), context="training")
    tracking.log_model_input("sft-model", sft_dir)
    mlflow.set_tag("recforge.loss", config.align_loss)
    run = mlflow.active_run()
    record = run_alignment(
        config, prefs_dir, sft_dir, out_dir, mlflow_run_id=run.info.run_id,
        kfp_run_id=run.data.tags.get(tracking.TAG_KFP_RUN, ""), kfp_job_name=kfp_job_name,
    )  # fmt: skip
    mlflow.log_params({f"hparam_{k}": v for k, v in record["hparams"].items()})
    mlflow.log_metrics({f"heldout_{k}_before": v for k, v in record["before"].items()})
    mlflow.log_metrics({f"heldout_{k}": v for k, v in record["after"].items()})
    mlflow.log_metrics(
        {"pairs": stats["pairs"], "global_step": record["global_step"], "train_loss": record["train_loss"]}
    )
    digest = tracking.write_lineage_and_log_output(out_dir)
    return {"digest": digest, **record["after"]}
