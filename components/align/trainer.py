"""The preference trainer: LoRA on the SFT model with any loss of `LOSSES`, through transformers' Trainer.

- Reference log-probs are computed once, with the SFT model before any adapter, in a pass before training
  (sharded over processes and gathered), and stored with the pairs: no second model in memory.
- Chosen and rejected sequences go through one forward; only completion positions are projected through the
  vocabulary (`components.recsys.logps`).
- alpha-DPO's running mean and std of the margin M (EMA with decay 0.9, zero-initialised as the reference
  code) are updated from the margins of every process; while the std is still zero (the first step, where the
  policy equals the reference and M = 0) the adaptive term is switched off instead of dividing by zero.
  The statistics are saved with each checkpoint and restored on resume.
- Logged like TRL: loss, rewards/chosen, rewards/rejected, rewards/accuracies, rewards/margins, logps/chosen,
  logps/rejected (rewards: beta * log-ratio, length-averaged for length-normalised losses).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch
from transformers import Trainer, TrainerCallback

from components.align.config import AlignConfig, loss_hparams
from components.align.losses import get_loss, pair_epsilons
from components.common.launch.ranks import rank_and_world
from components.common.models import load_base_model, save_model
from components.common.training import checkpoint_dir, full_parameters, trainer_arguments, zero_stage
from components.recsys.logps import completion_logps, pack

log = logging.getLogger(__name__)
EMA_FILE = "alpha_dpo_state.json"


def tokenize_pairs(tokenizer: Any, table: Any) -> dict[str, list]:
    eos = tokenizer.eos_token_id

    def ids(texts: Sequence[str], end: bool) -> list[list[int]]:
        encoded = tokenizer(list(texts), add_special_tokens=False).input_ids
        return [[*e, eos] if end else e for e in encoded]

    return {
        "prompt_ids": ids(table["prompt"].to_pylist(), False),
        "chosen_ids": ids(table["chosen"].to_pylist(), True),
        "rejected_ids": ids(table["rejected"].to_pylist(), True),
        "epsilon": table["epsilon"].to_pylist(),
    }


class PairCollator:
    """Pairs -> one batch of 2B rows ([chosen...; rejected...]) plus per-pair reference log-probs and epsilon."""

    def __init__(self, pad_id: int, max_length: int) -> None:
        self.pad_id, self.max_length = pad_id, max_length

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        prompts = [f["prompt_ids"] for f in features] * 2
        completions = [f["chosen_ids"] for f in features] + [f["rejected_ids"] for f in features]
        batch = pack(prompts, completions, self.pad_id, self.max_length)
        for key in ("ref_chosen", "ref_rejected", "epsilon"):
            batch[key] = torch.tensor([f[key] for f in features], dtype=torch.float32)
        return batch


@torch.no_grad()
def sequence_logps(
    model: Any,
    data: dict[str, list],
    pad_id: int,
    max_length: int,
    batch_size: int = 16,
    rows: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(chosen logps, rejected logps, chosen lengths, rejected lengths) of the given rows, no gradient."""
    model.eval()
    rows = list(range(len(data["prompt_ids"]))) if rows is None else list(rows)
    out = [np.zeros(len(rows)) for _ in range(4)]
    collate = PairCollator(pad_id, max_length)
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        blank = {"ref_chosen": 0.0, "ref_rejected": 0.0, "epsilon": 0.0}
        features = [{k: data[k][i] for k in ("prompt_ids", "chosen_ids", "rejected_ids")} | blank for i in chunk]
        batch = collate(features)
        sums, lengths, _ = completion_logps(
            model, batch["input_ids"], batch["attention_mask"], batch["completion_mask"]
        )
        n = len(chunk)
        for slot, values in enumerate((sums[:n], sums[n:], lengths[:n], lengths[n:])):
            out[slot][start : start + n] = values.float().cpu().numpy()
    return out[0], out[1], out[2], out[3]


def reference_logps(model: Any, data: dict[str, list], pad_id: int, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference log-probs of every pair, each process computing its share, gathered on all processes."""
    rank, world = rank_and_world()
    n = len(data["prompt_ids"])
    mine = list(range(rank, n, world))
    chosen, rejected, _, _ = sequence_logps(model, data, pad_id, max_length, rows=mine)
    parts = [(mine, chosen, rejected)]
    if world > 1:
        gathered: list[Any] = [None] * world
        torch.distributed.all_gather_object(gathered, parts[0])
        parts = gathered
    ref_c, ref_r = np.zeros(n), np.zeros(n)
    for rows, c, r in parts:
        ref_c[rows], ref_r[rows] = c, r
    return ref_c, ref_r


class MarginEMA:
    """alpha-DPO's running mean (c1) and std (c2) of the margin M, zero-initialised, updated every step."""

    def __init__(self, decay: float) -> None:
        self.decay, self.mean, self.std, self.updates = decay, 0.0, 0.0, 0

    def update(self, margins: torch.Tensor) -> None:
        values = margins.detach().float()
        _, world = rank_and_world()
        if world > 1:
            gathered = [torch.zeros_like(values) for _ in range(world)]
            torch.distributed.all_gather(gathered, values)
            values = torch.cat(gathered)
        std = float(values.std()) if values.numel() > 1 else 0.0  # unbiased, as the reference code
        self.mean = self.decay * self.mean + (1 - self.decay) * float(values.mean())
        self.std = self.decay * self.std + (1 - self.decay) * std
        self.updates += 1

    def state(self) -> dict:
        return {"mean": self.mean, "std": self.std, "updates": self.updates}

    def load(self, state: dict) -> None:
        self.mean, self.std, self.updates = state["mean"], state["std"], state["updates"]


class PreferenceTrainer(Trainer):
    """transformers.Trainer whose loss is one entry of LOSSES on precomputed reference log-probs."""

    def __init__(self, *args: Any, loss_name: str, hparams: dict[str, float], ema_decay: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_name, self.hparams, self.spec = loss_name, hparams, get_loss(loss_name)
        self.ema = MarginEMA(ema_decay)
        self.z_disabled_steps = 0
        self._pair_metrics: dict[str, list[float]] = defaultdict(list)

    def compute_loss(
        self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        head = self.accelerator.unwrap_model(model).get_output_embeddings()
        sums, lengths, tie = completion_logps(
            model, inputs["input_ids"], inputs["attention_mask"], inputs["completion_mask"], head
        )
        n = inputs["ref_chosen"].shape[0]
        pc, pr, lc, lr = sums[:n], sums[n:], lengths[:n], lengths[n:]
        rc, rr = inputs["ref_chosen"].to(pc.dtype), inputs["ref_rejected"].to(pc.dtype)
        extra: dict[str, Any] = {}
        if self.spec.epsilon:  # RosePO (each pair's eps) and cDPO (the mean, set in the pairs)
            extra["epsilon"] = inputs["epsilon"].to(pc.dtype)
        if self.loss_name == "alpha_dpo":
            margins = (pc / lc - pr / lr) - (rc / lc - rr / lr)
            self.ema.update(margins)
            if self.ema.std > 1e-6:
                extra.update(margin_mean=self.ema.mean, margin_std=self.ema.std)
            else:  # policy == reference so far: no spread to normalise by; the adaptive term is off
                extra.update(margin_mean=0.0, margin_std=float("inf"))
                self.z_disabled_steps += 1
        loss = (
            self.spec.fn(pc, pr, rc, rr, chosen_lengths=lc, rejected_lengths=lr, **self.hparams, **extra).mean() + tie
        )
        self._record(pc, pr, rc, rr, lc, lr)
        return (loss, {"chosen_logps": pc}) if return_outputs else loss

    @torch.no_grad()
    def _record(
        self, pc: torch.Tensor, pr: torch.Tensor, rc: torch.Tensor, rr: torch.Tensor, lc: torch.Tensor, lr: torch.Tensor
    ) -> None:
        beta = self.hparams.get("beta", 1.0)
        if self.spec.length_normalised:
            chosen, rejected = beta * (pc - rc) / lc, beta * (pr - rr) / lr
        else:
            chosen, rejected = beta * (pc - rc), beta * (pr - rr)
        values = {
            "rewards/chosen": chosen.mean(),
            "rewards/rejected": rejected.mean(),
            "rewards/accuracies": (chosen > rejected).float().mean(),
            "rewards/margins": (chosen - rejected).mean(),
            "logps/chosen": pc.mean(),
            "logps/rejected": pr.mean(),
        }
        for key, value in values.items():
            self._pair_metrics[key].append(self.accelerator.gather_for_metrics(value.detach()).mean().item())

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        for key, values in self._pair_metrics.items():
            logs[key] = float(np.mean(values))
        if self.loss_name == "alpha_dpo":
            logs["alpha_dpo/margin_mean"], logs["alpha_dpo/margin_std"] = self.ema.mean, self.ema.std
        self._pair_metrics.clear()
        super().log(logs, *args, **kwargs)


class EMACheckpoint(TrainerCallback):
    """Saves alpha-DPO's margin statistics with each checkpoint."""

    def __init__(self, trainer_ref: list) -> None:
        self.trainer_ref = trainer_ref

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                (folder / EMA_FILE).write_text(json.dumps(self.trainer_ref[0].ema.state()))


def pair_accuracy(
    model: Any, data: dict[str, list], ref: tuple[np.ndarray, np.ndarray], pad_id: int, max_length: int
) -> dict[str, float]:
    """Held-out pair metrics: reward accuracy (log-ratio of chosen above rejected) and the share of pairs whose
    chosen title is more likely per token than the rejected one."""
    pc, pr, lc, lr = sequence_logps(model, data, pad_id, max_length)
    margin = (pc - ref[0]) - (pr - ref[1])
    return {
        "reward_accuracy": float((margin > 0).mean()),
        "reward_margin": float(margin.mean()),
        "preference_accuracy": float((pc / lc > pr / lr).mean()),
    }


def train_alignment(
    config: AlignConfig,
    prefs_dir: str | Path,
    sft_dir: str | Path,
    out_dir: str | Path,
    *,
    callbacks: Sequence[Any] = (),
    progress: bool | None = None,
    mlflow_run_id: str | None = None,
) -> dict:
    """Align the SFT model on the pairs; write `out_dir/model`, `model.json` and `training.json`."""
    import sys

    from peft import LoraConfig, get_peft_model
    from transformers import TrainingArguments
    from transformers.trainer_utils import get_last_checkpoint

    from components.common.callbacks import MlflowMetrics, ProgressLog

    progress = sys.stderr.isatty() if progress is None else progress
    prefs_dir, sft_dir, out_dir = Path(prefs_dir), Path(sft_dir), Path(out_dir)
    hparams = loss_hparams(config.align_loss, config.align_hparams)
    stats = (prefs_dir / "stats.json").read_text()
    ckpt = checkpoint_dir(config, "align_", out_dir, [stats, str(prefs_dir)])
    world = rank_and_world()[1]
    args = TrainingArguments(
        **trainer_arguments(config, "align_", output_dir=ckpt, warmup=0.1, progress=progress),
        remove_unused_columns=False,
    )
    _ = args.device  # sets up the process group under torchrun before the reference pass
    model, tokenizer = load_base_model(str(sft_dir / "model"))
    pad_id, max_length = tokenizer.pad_token_id, config.align_max_length
    train = tokenize_pairs(tokenizer, pq.read_table(prefs_dir / "pairs.parquet"))
    held_out = tokenize_pairs(tokenizer, pq.read_table(prefs_dir / "eval_pairs.parquet"))
    train["epsilon"], held_out["epsilon"] = pair_epsilons(
        get_loss(config.align_loss), train["epsilon"], held_out["epsilon"]
    )
    train["ref_chosen"], train["ref_rejected"] = (a.tolist() for a in reference_logps(model, train, pad_id, max_length))
    eval_ref = reference_logps(model, held_out, pad_id, max_length)
    before = pair_accuracy(model, held_out, eval_ref, pad_id, max_length)

    from datasets import Dataset

    torch.manual_seed(config.align_seed)
    policy = get_peft_model(
        model,
        LoraConfig(
            r=config.align_lora_r,
            lora_alpha=config.align_lora_alpha,
            lora_dropout=config.align_lora_dropout,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            task_type="CAUSAL_LM",
        ),
    )
    holder: list = []
    trainer = PreferenceTrainer(
        model=policy,
        args=args,
        train_dataset=Dataset.from_dict(train),
        data_collator=PairCollator(pad_id, max_length),
        callbacks=[
            MlflowMetrics(mlflow_run_id),
            EMACheckpoint(holder),
            *([] if progress else [ProgressLog(config.align_loss)]),
            *callbacks,
        ],
        loss_name=config.align_loss,
        hparams=hparams,
        ema_decay=config.align_ema_decay,
    )
    holder.append(trainer)
    last = get_last_checkpoint(str(ckpt)) if ckpt.is_dir() else None
    if last and (Path(last) / EMA_FILE).is_file():
        trainer.ema.load(json.loads((Path(last) / EMA_FILE).read_text()))
    result = trainer.train(resume_from_checkpoint=last)
    with full_parameters(trainer):  # ZeRO-3: every rank gathers the shards
        after = pair_accuracy(trainer.model, held_out, eval_ref, pad_id, max_length)
    history = [h for h in trainer.state.log_history if "loss" in h]
    record = {
        "loss": config.align_loss,
        "hparams": hparams,
        "pairs": len(train["prompt_ids"]),
        "eval_pairs": len(held_out["prompt_ids"]),
        "global_step": trainer.state.global_step,
        "train_loss": result.training_loss,
        "resumed_from": last,
        "world_size": world,
        "before": before,
        "after": after,
        "alpha_dpo_ema": trainer.ema.state() if config.align_loss == "alpha_dpo" else None,
        "alpha_dpo_z_disabled_steps": trainer.z_disabled_steps,
        "log_history": history,
        "zero_stage": zero_stage(trainer),
    }
    with full_parameters(trainer):
        if rank_and_world()[0] == 0:
            merged = trainer.model.merge_and_unload()
            save_model(merged, tokenizer, out_dir / "model")
            info = json.loads((prefs_dir / "model.json").read_text())
            (out_dir / "model.json").write_text(json.dumps({**info, "aligned_with": config.align_loss}, indent=2))
            (out_dir / "training.json").write_text(json.dumps(record, indent=2))
    log.info(
        "%s: held-out reward accuracy %.3f -> %.3f, preference accuracy %.3f -> %.3f",
        config.align_loss,
        before["reward_accuracy"],
        after["reward_accuracy"],
        before["preference_accuracy"],
        after["preference_accuracy"],
    )
    return record
