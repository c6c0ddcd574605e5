"""LoRA SFT with TRL's SFTTrainer on LLaRA-style prompt -> title completions, single process or under torchrun.

Loss on the completion only (TRL's prompt-completion format). Checkpoints go to a stable folder keyed by the
config and the dataset digest, so re-running an interrupted step resumes from its last checkpoint. Under
torchrun (gloo on CPU, NCCL on GPU) every rank trains on its share of each global batch; rank 0 alone logs to
MLflow and writes the merged model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.common.callbacks import MlflowMetrics, ProgressLog
from components.common.launch.ranks import rank_and_world
from components.common.models import load_base_model, save_model
from components.common.prepared import Prepared
from components.common.training import checkpoint_dir, full_parameters, trainer_arguments, zero_stage
from components.recsys.prompts import (
    fit_to_length,
    in_chat,
    split_examples,
    template_for,
    training_examples,
    uses_chat,
)
from components.train_sft.config import SFTConfig

log = logging.getLogger(__name__)
NUM_NEGATIVES = 19


def schedule_arguments(config: SFTConfig, output_dir: Path, progress: bool) -> dict:
    """The shared trainer arguments filled from an SFT config (batch, schedule, checkpoints, seed; 5% warm-up)."""
    return trainer_arguments(config, "sft_", output_dir=output_dir, warmup=0.05, progress=progress)


def sft_checkpoint_dir(config: SFTConfig, data: Prepared, out_dir: Path, extra: dict | None = None) -> Path:
    """The SFT-family checkpoint folder, keyed by the config, the data and `extra` (what else defines the task)."""
    return checkpoint_dir(config, "sft_", out_dir, [data.stats["digest"]] + ([extra] if extra else []))


def _datasets(config: SFTConfig, data: Prepared, tokenizer: Any) -> tuple[Any, Any, dict]:
    import numpy as np
    from datasets import Dataset

    template = template_for(data.stats["dataset"], config.sft_template)
    train = training_examples(
        data, template, config.sft_history_len, config.sft_max_examples, NUM_NEGATIVES, config.sft_seed
    )
    valid = data.split("valid")
    rows = np.arange(min(config.sft_eval_examples, len(valid)), dtype=np.int64)
    held_out = split_examples(data, valid, template, config.sft_history_len, rows)
    if uses_chat(tokenizer, config.sft_template):
        train, held_out = in_chat(train, tokenizer), in_chat(held_out, tokenizer)
    counts = {"examples": len(train.prompts)}
    for name, examples in (("train", train), ("eval", held_out)):
        _, counts[f"{name}_prompts_shortened"] = fit_to_length(
            examples, data.titles, template, tokenizer, config.sft_max_length
        )
    return (
        Dataset.from_dict({"prompt": train.prompts, "completion": train.completions}),
        Dataset.from_dict({"prompt": held_out.prompts, "completion": held_out.completions}),
        counts,
    )


def train_sft(
    config: SFTConfig,
    dataset_dir: str | Path,
    out_dir: str | Path,
    *,
    callbacks: Sequence[Any] = (),
    progress: bool | None = None,
    mlflow_run_id: str | None = None,
) -> dict:
    """Fine-tune on next-item examples; writes `out_dir/model` (merged weights + tokenizer), `model.json`,
    `training.json`."""
    out_dir = Path(out_dir)
    data = Prepared(dataset_dir)
    model, tokenizer = load_base_model(
        config.base_model, corpus=data.titles, seed=config.sft_seed, vocab_size=config.sft_vocab_size
    )
    train_ds, eval_ds, counts = _datasets(config, data, tokenizer)
    describe = {
        "kind": "llm",
        "base_model": config.base_model,
        "template": template_for(data.stats["dataset"], config.sft_template),
        "history_len": config.sft_history_len,
        "chat": uses_chat(tokenizer, config.sft_template),
    }
    return fit(
        config,
        model,
        tokenizer,
        train_ds,
        eval_ds,
        sft_checkpoint_dir(config, data, out_dir),
        out_dir,
        describe=describe,
        counts=counts,
        callbacks=callbacks,
        progress=progress,
        mlflow_run_id=mlflow_run_id,
    )


def fit(
    config: SFTConfig,
    model: Any,
    tokenizer: Any,
    train_ds: Any,
    eval_ds: Any,
    ckpt: Path,
    out_dir: Path,
    *,
    describe: dict,
    counts: dict,
    trainer_class: Any = None,
    trainer_attrs: dict | None = None,
    callbacks: Sequence[Any] = (),
    progress: bool | None = None,
    mlflow_run_id: str | None = None,
) -> dict:
    """The SFT machinery every LM-tuning task shares: LoRA (PEFT) on `model`, TRL's SFTTrainer (by default with
    the completion-only head) on prompt/completion datasets, checkpoints in `ckpt` with resume, evaluation loss
    before and after, and on rank 0 the merged model, `describe` as `model.json` and the record."""
    import sys

    import trl
    from peft import LoraConfig
    from transformers.trainer_utils import get_last_checkpoint

    from components.train_sft.completion_head import CompletionHeadSFTTrainer

    if progress is None:  # a bar in a terminal, periodic log lines in pipeline logs
        progress = sys.stderr.isatty()
    tied = bool(getattr(model.config, "tie_word_embeddings", False))
    peft_config = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=[t.strip() for t in config.lora_targets.split(",") if t.strip()],
        modules_to_save=["embed_tokens", "lm_head"] if config.train_embeddings else None,
        ensure_weight_tying=tied and config.train_embeddings,
        task_type="CAUSAL_LM",
    )
    args = trl.SFTConfig(
        **schedule_arguments(config, ckpt, progress),
        eval_strategy="no",
        gradient_checkpointing=False,
        max_length=config.sft_max_length,
        completion_only_loss=True,
    )
    trainer_type = trainer_class or CompletionHeadSFTTrainer
    trainer = trainer_type(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[MlflowMetrics(mlflow_run_id), *([] if progress else [ProgressLog("SFT")]), *callbacks],
    )
    for name, value in (trainer_attrs or {}).items():
        setattr(trainer, name, value)
    last = get_last_checkpoint(str(ckpt)) if ckpt.is_dir() else None
    if last:
        log.info("resuming from %s", last)
    # transformers cannot evaluate a DeepSpeed model before training (ZeRO-2: refused; ZeRO-3: training then fails)
    initial = trainer.evaluate()["eval_loss"] if not last and not config.sft_deepspeed else None
    result = trainer.train(resume_from_checkpoint=last)
    final = trainer.evaluate()["eval_loss"]
    record = {
        **counts,
        "eval_examples": len(eval_ds),
        "global_step": trainer.state.global_step,
        "train_loss": result.training_loss,
        "initial_eval_loss": initial,
        "eval_loss": final,
        "resumed_from": last,
        "world_size": rank_and_world()[1],
        "log_history": [h for h in trainer.state.log_history if "loss" in h],
        "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "zero_stage": zero_stage(trainer),
    }
    with full_parameters(trainer):  # every rank takes part in gathering ZeRO-3 shards; rank 0 writes
        if rank_and_world()[0] == 0:
            merged = trainer.model.merge_and_unload()
            save_model(merged, tokenizer, out_dir / "model")
            (out_dir / "training.json").write_text(json.dumps(record, indent=2))
            (out_dir / "model.json").write_text(json.dumps(describe, indent=2))
    log.info("training done: %d steps, eval loss %s -> %.4f", record["global_step"], initial, final)
    return record
