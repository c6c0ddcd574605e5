"""The saved iLoRA recommender (Kong et al., NeurIPS 2024): building the gated mixture-of-LoRA model on a base LM,
the folder it is saved as (base model config and tokenizer, `ilora.pt` with base and adapter weights, a copy of
the SASRec encoder, `model.json`), loading it back, and the inputs its gate and hybrid prompt take.

Shared by the iLoRA training step and the evaluation step.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from components.common.atomic import atomic_dir
from components.common.errors import DataError
from components.recsys.ilora import ILoRAModel
from components.recsys.ilora_config import ILoRAConfig
from components.recsys.sasrec import load_sasrec, pad_histories

SOFT_TOKEN = "<item_emb>"


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
    saved = torch.load(folder / "ilora.pt", weights_only=True)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(saved))
    unexpected = sorted(set(saved) - set(expected))
    if missing or unexpected:
        problem = f"missing {missing[0]!r}" if missing else f"unexpected {unexpected[0]!r}"
        raise DataError(
            folder / "ilora.pt",
            f"{problem} ({len(missing)} missing, {len(unexpected)} unexpected tensors); expected the state of the"
            " iLoRA model that model.json describes",
        )
    model.load_state_dict(saved, strict=True)
    model.eval()
    return model, tokenizer, sasrec, describe


def _config(folder: Path) -> Any:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(folder, local_files_only=True)
