"""What the preference step records in MLflow: inputs, per-strategy counts and mean epsilon, the pairs."""

from __future__ import annotations

from pathlib import Path

import mlflow

from components.build_preferences.config import PreferenceConfig
from components.build_preferences.core import build_preferences
from components.common import tracking


def preferences_and_track(
    config: PreferenceConfig, dataset_dir: str | Path, sft_dir: str | Path, sasrec_dir: str | Path, out_dir: str | Path
) -> dict:
    tracking.log_prepared(dataset_dir, context="training")
    tracking.log_model_input("sft-model", sft_dir)
    tracking.log_model_input("sasrec-oracle", sasrec_dir)
    stats = build_preferences(config, dataset_dir, sft_dir, sasrec_dir, out_dir)
    for part in ("train", "eval"):
        for strategy, values in stats[part].items():
            if isinstance(values, dict):
                mlflow.log_metrics(
                    {
                        f"{part}_{strategy}_pairs": values["pairs"],
                        f"{part}_{strategy}_mean_epsilon": values["mean_epsilon"],
                    }
                )
    mlflow.log_metrics({"pairs": stats["pairs"], "eval_pairs": stats["eval_pairs"]})
    digest = tracking.digest_of(out_dir)
    tracking.log_output("preferences", str(Path(out_dir).resolve()), digest)
    return {"digest": digest, "pairs": stats["pairs"]}
