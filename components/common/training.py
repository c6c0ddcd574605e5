"""The transformers/TRL training arguments every recforge trainer shares (schedule, checkpoints, devices, seeds),
and the schedule and device choice of the plain PyTorch loops (fact training, Pigeon)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
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


def warmup_cosine(total: int) -> Callable[[int], float]:
    """LambdaLR factor for step s of `total`: linear warm-up over the first 5% (at least one step), then a cosine
    to zero."""
    warm = max(1, total // 20)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    return factor


def best_device() -> str:
    """CUDA where available, else CPU: where the plain PyTorch loops put their models."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
