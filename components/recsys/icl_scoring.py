"""Scoring Yes/No prompts for RecICL-style click-through prediction: the raw logit of the "Yes" token after each
prompt (the reference code's score), batched with left padding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from components.recsys.scoring import pad


def yes_token(tokenizer: Any, prompt: str = "#Answer:") -> int:
    """The token the model writes first when it answers "Yes" right after `prompt` (a sample's prompt as the
    model reads it: the plain question, or its chat turn), found by tokenizing prompt + "Yes" as the trainer
    does. A tokenizer that merges the answer into the prompt's last token has no answer position: ConfigError."""
    from components.common.errors import ConfigError

    prompt_ids = tokenizer(prompt, add_special_tokens=False).input_ids
    full = tokenizer(prompt + "Yes", add_special_tokens=False).input_ids
    if full[: len(prompt_ids)] != prompt_ids or len(full) == len(prompt_ids):
        raise ConfigError(
            "icl", f"the tokenizer merges 'Yes' into the prompt's end {prompt[-20:]!r}; expected an answer token"
        )
    return int(full[len(prompt_ids)])


@torch.no_grad()
def yes_scores(model: Any, tokenizer: Any, prompts: Sequence[str], batch_size: int = 16) -> np.ndarray:
    """(n,) logit of "Yes" at the end of each prompt."""
    model.eval()
    device = next(model.parameters()).device
    yes = yes_token(tokenizer, prompts[0]) if len(prompts) else 0
    out = np.zeros(len(prompts), dtype=np.float64)
    for start in range(0, len(prompts), batch_size):
        chunk = [tokenizer(p, add_special_tokens=False).input_ids for p in prompts[start : start + batch_size]]
        ids, mask = pad(chunk, tokenizer.pad_token_id, left=True)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                       logits_to_keep=1).logits  # fmt: skip
        out[start : start + len(chunk)] = logits[:, -1, yes].float().cpu().numpy()
    return out
