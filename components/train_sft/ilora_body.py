"""The iLoRA training step's body: what it records in MLflow, inputs, adapter size, losses, the model folder."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow

from components.common import tracking
from components.common.base_model import read_reference
from components.recsys.ilora_config import ILoRAConfig
from components.train_sft.config import SFTConfig
from components.train_sft.ilora_trainer import train_ilora


def ilora_and_track(
    sft: SFTConfig,
    ilora: ILoRAConfig,
    dataset_dir: str | Path,
    base_dir: str | Path,
    sasrec_dir: str | Path,
    out_dir: str | Path,
    experts: int,
) -> dict:
    """Train with `experts` experts (1: plain LoRA of the same total rank); the step's tag names which."""
    sft.require_one_process("iLoRA")
    ilora = dataclasses.replace(ilora, ilora_experts=experts)
    mlflow.log_param("ilora_experts_used", experts)
    tracking.log_prepared(dataset_dir, context="training")
    tracking.log_base_model(read_reference(base_dir, sft.base_model))
    tracking.log_model_input("sasrec-encoder", sasrec_dir)
    record = train_ilora(sft, ilora, dataset_dir, sasrec_dir, out_dir, mlflow_run_id=mlflow.active_run().info.run_id)
    mlflow.log_metrics({k: float(v) for k, v in record.items() if isinstance(v, int | float) and v is not None})
    digest = tracking.write_lineage_and_log_output(out_dir)
    return {"digest": digest, "eval_loss": record["eval_loss"]}
