"""Training iLoRA recommenders: LLaRA-style next-item SFT with the mixture-of-LoRA-experts adapter.

The same examples, loss (completion tokens only, projected through the vocabulary alone) and schedule as the SFT
step; each example also carries the SASRec representation of the user's history, which sets the gate. Plain LoRA
with the same total rank is this code with one expert, so the comparison changes only the adapter. The model
folder format and loading live on the shared floor (components/recsys/ilora_format.py).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainingArguments

from components.common.callbacks import MlflowMetrics, ProgressLog
from components.common.errors import ConfigError
from components.common.models import load_base_model
from components.common.prepared import Prepared
from components.recsys.ilora_config import ILoRAConfig
from components.recsys.ilora_format import build_ilora, hybrid_prompt, save_ilora, sequence_representations
from components.recsys.logps import completion_logps, pack
from components.recsys.prompts import Examples, split_examples, template_for, training_examples
from components.recsys.sasrec import load_sasrec
from components.train_sft.config import SFTConfig
from components.train_sft.trainer import schedule_arguments, sft_checkpoint_dir

log = logging.getLogger(__name__)
NUM_NEGATIVES = 19


class ILoRACollator:
    def __init__(self, pad_id: int, max_length: int) -> None:
        self.pad_id, self.max_length = pad_id, max_length

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        batch = pack(
            [f["prompt_ids"] for f in features], [f["completion_ids"] for f in features], self.pad_id, self.max_length
        )
        batch["user_repr"] = torch.tensor(np.stack([f["user_repr"] for f in features]), dtype=torch.float32)
        width = max(len(f["soft_items"]) for f in features)
        soft = torch.full((len(features), max(width, 1)), -1, dtype=torch.long)
        for row, f in enumerate(features):
            soft[row, : len(f["soft_items"])] = torch.tensor(f["soft_items"], dtype=torch.long)
        batch["soft_items"] = soft
        return batch


class ILoRATrainer(Trainer):
    """Completion-token cross-entropy through an ILoRAModel (gate from `user_repr`).

    Checkpoints hold the module's state dict as one torch file (the tiny preset ties embedding and output weights,
    which safetensors refuses to save twice).
    """

    def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
        folder = Path(output_dir or self.args.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.accelerator.unwrap_model(self.model).state_dict(), folder / "ilora_state.pt")

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        state = torch.load(Path(resume_from_checkpoint) / "ilora_state.pt", weights_only=True)
        self.accelerator.unwrap_model(model or self.model).load_state_dict(state)

    def compute_loss(
        self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        net = self.accelerator.unwrap_model(model)
        forward = _Bound(model, inputs["user_repr"], inputs["soft_items"] if getattr(net, "soft", None) else None)
        sums, lengths, tie = completion_logps(
            forward,
            inputs["input_ids"],
            inputs["attention_mask"],
            inputs["completion_mask"],
            net.get_output_embeddings(),
        )
        loss = -sums.sum() / lengths.sum().clamp(min=1) + tie
        return (loss, {"logps": sums}) if return_outputs else loss


class _Bound:
    """Calls an ILoRAModel with the batch's gate input (and soft items) bound."""

    def __init__(self, model: Any, user_repr: torch.Tensor, soft_items: torch.Tensor | None) -> None:
        self.model, self.user_repr, self.soft_items = model, user_repr, soft_items

    def __call__(self, **kwargs: Any) -> Any:
        return self.model(user_repr=self.user_repr, soft_items=self.soft_items, **kwargs)


def _features(
    examples: Examples, reps: np.ndarray, tokenizer: Any, titles: list[str], template: str, hybrid: bool
) -> dict:
    prompts, soft = [], []
    for history, cands, prompt in zip(examples.histories, examples.candidates, examples.prompts, strict=True):
        if hybrid:
            text, items = hybrid_prompt(template, titles, history, cands)
            prompts.append(text)
            soft.append(items)
        else:
            prompts.append(prompt)
            soft.append([])
    eos = tokenizer.eos_token_id
    return {
        "prompt_ids": tokenizer(prompts, add_special_tokens=False).input_ids,
        "completion_ids": [[*ids, eos] for ids in tokenizer(examples.completions, add_special_tokens=False).input_ids],
        "user_repr": list(reps),
        "soft_items": soft,
    }


def train_ilora(
    sft: SFTConfig,
    ilora: ILoRAConfig,
    dataset_dir: str | Path,
    sasrec_dir: str | Path,
    out_dir: str | Path,
    *,
    progress: bool | None = None,
    mlflow_run_id: str | None = None,
    callbacks: Sequence[Any] = (),
) -> dict:
    """Train on next-item examples; writes the base model, the adapter, the SASRec encoder and `model.json`."""
    progress = sys.stderr.isatty() if progress is None else progress
    out_dir = Path(out_dir)
    data = Prepared(dataset_dir)
    sasrec = load_sasrec(sasrec_dir)
    if sasrec.n_items != data.n_items:
        raise ConfigError(
            "ilora", f"the SASRec encoder knows {sasrec.n_items} items, the dataset {data.n_items}; expected the same"
        )
    template = template_for(data.stats["dataset"], sft.sft_template)
    train = training_examples(data, template, sft.sft_history_len, sft.sft_max_examples, NUM_NEGATIVES, sft.sft_seed)
    valid = data.split("valid")
    held = split_examples(data, valid, template, sft.sft_history_len, np.arange(min(sft.sft_eval_examples, len(valid))))
    base, tokenizer = load_base_model(
        sft.base_model, corpus=data.titles, seed=sft.sft_seed, vocab_size=sft.sft_vocab_size
    )
    torch.manual_seed(sft.sft_seed)
    model = build_ilora(base, tokenizer, ilora, sasrec, sft.train_embeddings)
    hybrid = ilora.ilora_prompt == "hybrid"
    from datasets import Dataset

    train_ds = Dataset.from_dict(
        _features(train, sequence_representations(sasrec, train.histories), tokenizer, data.titles, template, hybrid)
    )
    eval_ds = Dataset.from_dict(
        _features(held, sequence_representations(sasrec, held.histories), tokenizer, data.titles, template, hybrid)
    )
    ckpt = sft_checkpoint_dir(sft, data, out_dir, extra={"ilora": ilora.to_params()})
    args = TrainingArguments(
        **schedule_arguments(sft, ckpt, progress),
        remove_unused_columns=False,
        label_names=["completion_mask"],  # so that evaluation computes the loss
    )
    trainer = ILoRATrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=ILoRACollator(tokenizer.pad_token_id, sft.sft_max_length),
        callbacks=[MlflowMetrics(mlflow_run_id), *([] if progress else [ProgressLog("iLoRA")]), *callbacks],
    )
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(ckpt)) if ckpt.is_dir() else None
    initial = trainer.evaluate()["eval_loss"] if not last else None
    result = trainer.train(resume_from_checkpoint=last)
    final = trainer.evaluate()["eval_loss"]
    record = {
        "examples": len(train_ds),
        "global_step": trainer.state.global_step,
        "train_loss": result.training_loss,
        "initial_eval_loss": initial,
        "eval_loss": final,
        "resumed_from": last,
        "experts": ilora.ilora_experts,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "adapter_parameters": sum(v.numel() for v in model.adapter_state().values()),
    }
    describe = {
        "kind": "ilora",
        "base_model": sft.base_model,
        "template": template,
        "history_len": sft.sft_history_len,
        **ilora.to_params(),
    }
    save_ilora(model, tokenizer, sasrec_dir, out_dir, describe, record)
    return record
