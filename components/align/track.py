"""What the alignment step records in MLflow: inputs, held-out pair metrics before and after, the model."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import mlflow

from components.align.config import AlignConfig
from components.common import tracking
from components.common.distributed import torchrun


def align_args(config_path: Path, prefs_dir: str | Path, sft_dir: str | Path, out_dir: str | Path) -> list[str]:
    return ["--config", str(config_path), "--prefs", str(prefs_dir), "--sft", str(sft_dir), "--out", str(out_dir)]


def run_alignment(config: AlignConfig, prefs_dir: str | Path, sft_dir: str | Path, out_dir: str | Path,
                  mlflow_run_id: str | None = None) -> dict:  # fmt: skip
    """In this process, or under torchrun with `align_nproc > 1`; returns the training record."""
    from components.align.trainer import train_alignment

    if config.align_nproc == 1 and not config.align_deepspeed:  # DeepSpeed always runs under torchrun
        return train_alignment(config, prefs_dir, sft_dir, out_dir, mlflow_run_id=mlflow_run_id)
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp) / "align.json"
        config_path.write_text(json.dumps(config.to_params()))
        torchrun(
            "components.align", config.align_nproc, align_args(config_path, prefs_dir, sft_dir, out_dir), mlflow_run_id
        )
    return json.loads((Path(out_dir) / "training.json").read_text())


def align_and_track(config: AlignConfig, prefs_dir: str | Path, sft_dir: str | Path, out_dir: str | Path) -> dict:
    stats = json.loads((Path(prefs_dir) / "stats.json").read_text())
    tracking.log_dataset("preferences", str(prefs_dir), tracking.digest_of(prefs_dir), context="training")
    tracking.log_model_input("sft-model", sft_dir)
    mlflow.set_tag("recforge.loss", config.align_loss)
    record = run_alignment(config, prefs_dir, sft_dir, out_dir, mlflow_run_id=mlflow.active_run().info.run_id)
    mlflow.log_params({f"hparam_{k}": v for k, v in record["hparams"].items()})
    mlflow.log_metrics({f"heldout_{k}_before": v for k, v in record["before"].items()})
    mlflow.log_metrics({f"heldout_{k}": v for k, v in record["after"].items()})
    mlflow.log_metrics(
        {"pairs": stats["pairs"], "global_step": record["global_step"], "train_loss": record["train_loss"]}
    )
    digest = tracking.write_lineage_and_log_output(out_dir)
    return {"digest": digest, **record["after"]}
