"""The RecICL training steps' bodies: what they record in MLflow, inputs, the time windows, each model trained
or reused."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mlflow

from components.common import tracking
from components.common.atomic import atomic_dir
from components.common.base_model import read_reference
from components.recsys.icl_config import ICLConfig, effective_as_of, parse_as_of
from components.train_sft.config import SFTConfig
from components.train_sft.icl_core import reuse_model, train_icl

log = logging.getLogger(__name__)


def recicl_and_track(
    sft: SFTConfig, icl: ICLConfig, dataset_dir: str | Path, out_dir: str | Path, schedule_time: str
) -> dict:
    """Train (or reuse) the RecICL model and the plain SFT baseline on the training window: out/recicl, out/sft."""
    icl = effective_as_of(icl, schedule_time)
    mlflow.log_param("effective_as_of", str(parse_as_of(icl.as_of)) if icl.as_of else "all data")  # Unix seconds
    run_id = mlflow.active_run().info.run_id
    with atomic_dir(out_dir) as tmp:
        if icl.icl_model_dir:
            for variant in ("recicl", "sft"):
                reuse_model(Path(icl.icl_model_dir) / variant, tmp / variant)
            mlflow.set_tag("recforge.reused_model", icl.icl_model_dir)
            summary = {"reused": icl.icl_model_dir}
        else:
            summary = {}
            for variant, demos in (("recicl", icl.icl_demos), ("sft", 0)):
                record = train_icl(
                    sft, icl, dataset_dir, tmp / variant, up_to_window=1, demos=demos, mlflow_run_id=run_id
                )
                summary[variant] = {k: record[k] for k in ("examples", "eval_loss", "global_step")}
                mlflow.log_metrics(
                    {f"{variant}_eval_loss": record["eval_loss"], f"{variant}_examples": record["examples"]}
                )
    digest = tracking.write_lineage_and_log_output(out_dir)
    return {"digest": digest, **summary}


def retrain_and_track(
    sft: SFTConfig, icl: ICLConfig, dataset_dir: str | Path, out_dir: str | Path, schedule_time: str
) -> dict:
    """The upper bound: one RecICL model per later window, trained on all data before it (out/window-<w>)."""
    icl = effective_as_of(icl, schedule_time)
    run_id = mlflow.active_run().info.run_id
    trained = []
    with atomic_dir(out_dir) as tmp:
        if not icl.retrain:
            (tmp / "README.txt").write_text("retrain=false: no per-window retraining in this run\n")
        else:
            for window in range(2, icl.icl_windows + 1):  # window 1's "retrained" model is the RecICL model itself
                record = train_icl(
                    sft, icl, dataset_dir, tmp / f"window-{window}", up_to_window=window, mlflow_run_id=run_id
                )
                mlflow.log_metric("retrained_eval_loss", record["eval_loss"], step=window)
                trained.append(window)
        (tmp / "windows.json").write_text(json.dumps({"trained": trained}))
    digest = tracking.write_lineage_and_log_output(out_dir)
    return {"digest": digest, "windows": trained}


def train_icl_step(
    sft: SFTConfig,
    icl: ICLConfig,
    dataset_dir: str | Path,
    base_dir: str | Path,
    out_dir: str | Path,
    schedule_time: str,
    upper_bound: bool,
) -> dict:
    """The KFP step body: RecICL and its SFT baseline, or with `upper_bound` the per-window retrained models."""
    sft.require_one_process("RecICL")
    tracking.log_prepared(dataset_dir, context="training")
    tracking.log_base_model(read_reference(base_dir, sft.base_model))
    body = retrain_and_track if upper_bound else recicl_and_track
    return body(sft, icl, dataset_dir, out_dir, schedule_time)
