"""What the resolve-base-model step does and records: resolve `base_model` (a pretrained preset is fetched and
converted here when not cached), write the reference artifact (components/common/base_model.py) and log the model's
digest and source to MLflow as the step's output, which the consuming steps' inputs link to (training steps by the
model's digest, the untuned evaluation by the reference folder's)."""

from __future__ import annotations

from pathlib import Path

import mlflow

from components.common import tracking
from components.common.base_model import write_reference


def resolve_and_track(base_model: str, out_dir: str | Path) -> dict:
    record = write_reference(base_model, out_dir)
    mlflow.set_tags({"recforge.base_model": base_model, "recforge.base_model_kind": record["model_kind"]})
    tracking.log_output("base-model", record.get("path") or record["source"], record["digest"])
    tracking.log_model_output("model", out_dir)  # the reference folder itself, which an untuned evaluation reads
    return record
