"""The transformers/TRL training arguments every recforge trainer shares (schedule, checkpoints, devices, seeds),
and the schedule and device choice of the plain PyTorch loops (fact training, Pigeon)."""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any


def trainer_arguments(
    config: Any, prefix: str, *, output_dir: str | Path, warmup: float, progress: bool
) -> dict[str, Any]:
    """Keyword arguments for `TrainingArguments` (or TRL's configs) from a step config's `<prefix>batch_size`,
    `grad_accum`, `lr`, `epochs`, `save_steps`, `seed` and `deepspeed` fields: cosine schedule with warm-up (a
    fraction), a checkpoint every `save_steps` (the last one kept), CPU or CUDA (bf16 where supported), gloo for
    torchrun on CPU, no reporting integrations (recforge logs to MLflow itself), seeded data order; `deepspeed`
    names one of the ZeRO configs shipped in the package (see `deepspeed_config`)."""
    import torch

    def field(name: str) -> Any:
        return getattr(config, prefix + name)

    batch_size, seed, deepspeed = field("batch_size"), field("seed"), field("deepspeed")

    cuda = torch.cuda.is_available()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return {
        "output_dir": str(output_dir),
        "per_device_train_batch_size": batch_size,
        "per_device_eval_batch_size": batch_size,
        "gradient_accumulation_steps": field("grad_accum"),
        "learning_rate": field("lr"),
        "num_train_epochs": field("epochs"),
        "lr_scheduler_type": "cosine",
        "warmup_steps": warmup,
        "logging_steps": 10,
        "save_strategy": "steps",
        "save_steps": field("save_steps"),
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


def checkpoint_dir(config: Any, prefix: str, out_dir: Path, identity: list[Any]) -> Path:
    """Where a trainer's checkpoints live: the config's `<prefix>checkpoint_dir` when set; else a stable folder
    $RECFORGE_CHECKPOINT_ROOT/<prefix>/<key>, keyed by the config's settings (less where and how it runs) and
    `identity` (what else defines the training task, e.g. the data's digest), so that re-running an interrupted
    step resumes from its last checkpoint; else beside the output."""
    configured = getattr(config, prefix + "checkpoint_dir")
    if configured:
        return Path(configured)
    root = os.environ.get("RECFORGE_CHECKPOINT_ROOT")
    if not root:
        return out_dir.parent / f".{out_dir.name}.checkpoints"
    placement = {prefix + name for name in ("checkpoint_dir", "nproc", "nodes", "deepspeed")}
    params = {k: v for k, v in config.to_params().items() if k not in placement}
    key = hashlib.sha256(json.dumps([params, *identity], sort_keys=True).encode()).hexdigest()[:16]
    return Path(root) / prefix.rstrip("_") / key


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


def warmup_cosine(optimizer: Any, total: int) -> Any:
    """transformers' cosine schedule for `total` steps with a linear warm-up over the first 5% (at least one step):
    the schedule the Trainer-based steps use, for the plain PyTorch loops."""
    from transformers import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=max(1, total // 20), num_training_steps=total)


def best_device() -> str:
    """CUDA where available, else CPU: where the plain PyTorch loops put their models."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
