"""The transformers/TRL training arguments every recforge trainer shares (schedule, checkpoints, devices, seeds),
and the schedule and device choice of the plain PyTorch loops (fact training, Pigeon)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
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
    deepspeed: str = "",
) -> dict[str, Any]:
    """Keyword arguments for `TrainingArguments` (or TRL's configs): cosine schedule with warm-up (a fraction),
    a checkpoint every `save_steps` (the last one kept), CPU or CUDA (bf16 where supported), gloo for torchrun
    on CPU, no reporting integrations (recforge logs to MLflow itself), seeded data order; `deepspeed` names one
    of the ZeRO configs shipped in the package (see `deepspeed_config`)."""
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
        "deepspeed": deepspeed_config(deepspeed),
    }


DEEPSPEED_STAGES = ("", "zero2", "zero3")


def deepspeed_config(stage: str) -> str | None:
    """Path of the shipped DeepSpeed config `components/common/deepspeed/<stage>.json` ("" -> None: plain DDP).

    Batch, accumulation, clipping and bf16 are "auto", filled from the trainer's own arguments; no optimizer or
    scheduler section, so the trainer's AdamW and cosine schedule stay the same with and without ZeRO.
    """
    if not stage:
        return None
    if stage not in DEEPSPEED_STAGES:
        raise ValueError(f"deepspeed: got {stage!r}; expected one of {DEEPSPEED_STAGES}")
    return str(Path(__file__).parent / "deepspeed" / f"{stage}.json")


def zero_stage(trainer: Any) -> int:
    """The DeepSpeed ZeRO stage a transformers Trainer runs with (0: no DeepSpeed)."""
    if not getattr(trainer, "is_deepspeed_enabled", False):
        return 0
    return int(trainer.accelerator.state.deepspeed_plugin.zero_stage)


def full_parameters(trainer: Any) -> AbstractContextManager[Any]:
    """Inside: every parameter of `trainer.model` whole on every rank (ZeRO-3 gathers its shards; otherwise
    nothing to do). Every rank must enter it."""
    if zero_stage(trainer) != 3:
        return nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters(list(trainer.model.parameters()), modifier_rank=None)


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
