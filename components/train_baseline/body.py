"""What the baseline steps record in MLflow: the prepared input, the model output, training metrics."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow

from components.common import tracking
from components.common.prepared import Prepared
from components.recsys.popularity import save_popularity, train_popularity
from components.train_baseline.config import SASRecConfig


def popularity_and_track(dataset_dir: str | Path, out_dir: str | Path) -> dict:
    tracking.log_prepared(dataset_dir, context="training")
    counts = train_popularity(Prepared(dataset_dir))
    save_popularity(counts, out_dir)
    digest = tracking.log_model_output("model", out_dir)
    mlflow.log_metrics({"items_with_counts": float((counts > 0).sum()), "max_count": float(counts.max())})
    return {"digest": digest}


def sasrec_and_track(config: SASRecConfig, dataset_dir: str | Path, out_dir: str | Path) -> dict:
    import torch

    from components.recsys.sasrec import save_sasrec
    from components.train_baseline.sasrec import train_sasrec

    tracking.log_prepared(dataset_dir, context="training")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = Prepared(dataset_dir)
    model, record = train_sasrec(data, config)
    for epoch, loss in enumerate(record["loss"], start=1):
        mlflow.log_metric("train_loss", loss, step=epoch)
    for epoch, hr in record["valid_hr_10"]:
        mlflow.log_metric("valid_hr_10", hr, step=epoch)
    mlflow.log_metrics({"best_epoch": record["best_epoch"], "best_valid_hr_10": record["best_valid_hr_10"]})
    save_sasrec(model, record, data, out_dir)
    digest = tracking.log_model_output("model", out_dir)
    mlflow.log_text(json.dumps(record["valid_hr_10"]), "valid_hr_10.json")
    return {"digest": digest, "best_valid_hr_10": record["best_valid_hr_10"]}
