"""Training and loading iLoRA recommenders: LLaRA-style next-item SFT with the mixture-of-LoRA-experts adapter.

The same examples, loss (completion tokens only, projected through the vocabulary alone) and schedule as the SFT
step; each example also carries the SASRec representation of the user's history, which sets the gate. Plain LoRA
with the same total rank is this code with one expert, so the comparison changes only the adapter. The model
folder holds the base model, the adapter (`ilora.pt`), a copy of the SASRec encoder and `model.json`.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import Trainer, TrainingArguments

from components.align.logps import completion_logps, pack
from components.common.atomic import atomic_dir
from components.common.callbacks import MlflowMetrics, ProgressLog
from components.common.errors import ConfigError
from components.common.models import load_base_model
from components.common.prepared import Prepared
from components.train_baseline.sasrec import load_sasrec, pad_histories
from components.train_sft.config import SFTConfig
from components.train_sft.ilora import ILoRAModel
from components.train_sft.ilora_config import ILoRAConfig
from components.train_sft.prompts import Examples, split_examples, template_for, training_examples
from components.train_sft.trainer import checkpoint_dir, schedule_arguments

log = logging.getLogger(__name__)
SOFT_TOKEN = "<item_emb>"
NUM_NEGATIVES = 19


def sequence_representations(sasrec: Any, histories: Sequence[np.ndarray], batch: int = 512) -> np.ndarray:
    """(n, d) SASRec states after each history (the gate input)."""
    out = []
    with torch.no_grad():
        for start in range(0, len(histories), batch):
            out.append(sasrec.represent(pad_histories(histories[start : start + batch], sasrec.max_len)).numpy())
    return np.concatenate(out).astype(np.float32)


def hybrid_prompt(
    template: str, titles: list[str], history: np.ndarray, candidates: np.ndarray
) -> tuple[str, list[int]]:
    """The prompt with `<item_emb>` after every title, and the item ids in reading order."""
    shown = [f"{titles[i]} {SOFT_TOKEN}" for i in history]
    cands = [f"{titles[i]} {SOFT_TOKEN}" for i in candidates]
    text = template.format(history=", ".join(shown), candidates=", ".join(cands), n=len(candidates))
    return text, [*map(int, history), *map(int, candidates)]


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


def build_ilora(base: Any, tokenizer: Any, ilora: ILoRAConfig, sasrec: Any, train_embeddings: bool) -> ILoRAModel:
    if ilora.ilora_prompt == "hybrid" and SOFT_TOKEN not in tokenizer.get_vocab():
        tokenizer.add_special_tokens({"additional_special_tokens": [SOFT_TOKEN]})
        base.resize_token_embeddings(len(tokenizer))
    model = ILoRAModel(
        base,
        repr_dim=sasrec.hidden,
        rank=ilora.ilora_rank,
        alpha=ilora.ilora_alpha,
        experts=ilora.ilora_experts,
        dropout=ilora.ilora_dropout,
    )
    if ilora.ilora_prompt == "hybrid":
        model.attach_soft_items(sasrec.item_emb.weight[1:].detach(), tokenizer.convert_tokens_to_ids(SOFT_TOKEN))
    if train_embeddings:  # the tiny preset's vocabulary is new: its embeddings must learn too
        for module in (base.get_input_embeddings(), base.get_output_embeddings()):
            for p in module.parameters():
                p.requires_grad_(True)
    return model


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
    model = build_ilora(base, tokenizer, ilora, sasrec, sft.sft_train_embeddings)
    hybrid = ilora.ilora_prompt == "hybrid"
    from datasets import Dataset

    train_ds = Dataset.from_dict(
        _features(train, sequence_representations(sasrec, train.histories), tokenizer, data.titles, template, hybrid)
    )
    eval_ds = Dataset.from_dict(
        _features(held, sequence_representations(sasrec, held.histories), tokenizer, data.titles, template, hybrid)
    )
    ckpt = checkpoint_dir(sft, data, out_dir, extra={"ilora": ilora.to_params()})
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


def save_ilora(
    model: ILoRAModel, tokenizer: Any, sasrec_dir: str | Path, out_dir: str | Path, describe: dict, record: dict
) -> None:
    with atomic_dir(out_dir) as tmp:
        model.model.config.save_pretrained(tmp / "base")  # the weights, base and adapters, are all in ilora.pt
        tokenizer.save_pretrained(tmp / "base")
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, tmp / "ilora.pt")
        shutil.copytree(sasrec_dir, tmp / "sasrec")
        (tmp / "model.json").write_text(json.dumps(describe, indent=2))
        (tmp / "training.json").write_text(json.dumps(record, indent=2))


def load_ilora(model_dir: str | Path) -> tuple[ILoRAModel, Any, Any, dict]:
    """(model, tokenizer, SASRec encoder, description) of a saved iLoRA folder."""
    folder = Path(model_dir)
    describe = json.loads((folder / "model.json").read_text())
    config = ILoRAConfig.from_params({k: v for k, v in describe.items() if k.startswith("ilora_")})
    sasrec = load_sasrec(folder / "sasrec")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder / "base", local_files_only=True)
    base = AutoModelForCausalLM.from_config(_config(folder / "base"))
    model = build_ilora(base, tokenizer, config, sasrec, train_embeddings=False)
    model.load_state_dict(torch.load(folder / "ilora.pt", weights_only=True), strict=False)
    model.eval()
    return model, tokenizer, sasrec, describe


def _config(folder: Path) -> Any:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(folder, local_files_only=True)
