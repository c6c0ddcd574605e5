"""The transformers/TRL training arguments every recforge trainer shares (schedule, checkpoints, devices, seeds)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def trainer_arguments(
    *,
    output_dir: str | Path,
    batch_size: int,
    grad_accum: int,
    lr: float,
    epochs: float,
    warmup: float,
    save_steps: int,
    seed: int,
    progress: bool,
) -> dict[str, Any]:
    """Keyword arguments for `TrainingArguments` (or TRL's configs): cosine schedule with warm-up (a fraction),
    a checkpoint every `save_steps` (the last one kept), CPU or CUDA (bf16 where supported), gloo for torchrun
    on CPU, no reporting integrations (recforge logs to MLflow itself), seeded data order."""
    import torch

    cuda = torch.cuda.is_available()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": batch_size,
        "per_device_eval_batch_size": batch_size,
        "gradient_accumulation_steps": grad_accum,
        "learning_rate": lr,
        "num_train_epochs": epochs,
        "lr_scheduler_type": "cosine",
        "warmup_steps": warmup,
        "logging_steps": 10,
        "save_strategy": "steps",
        "save_steps": save_steps,
        "save_total_limit": 1,
        "use_cpu": not cuda,
        "bf16": cuda and torch.cuda.is_bf16_supported(),
        "ddp_backend": "gloo" if world > 1 and not cuda else None,
        "report_to": [],
        "seed": seed,
        "data_seed": seed,
        "disable_tqdm": not progress,
        "dataloader_num_workers": 0,
    }
