"""Scoring Yes/No prompts for RecICL-style click-through prediction: the raw logit of the "Yes" token after each
prompt (the reference code's score), batched with left padding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from components.recsys.scoring import pad


def yes_token(tokenizer: Any) -> int:
    """The first token of "Yes" as it follows "#Answer:" in the prompts."""
    return int(tokenizer("Yes", add_special_tokens=False).input_ids[0])


@torch.no_grad()
def yes_scores(model: Any, tokenizer: Any, prompts: Sequence[str], batch_size: int = 16) -> np.ndarray:
    """(n,) logit of "Yes" at the end of each prompt."""
    model.eval()
    device = next(model.parameters()).device
    yes = yes_token(tokenizer)
    out = np.zeros(len(prompts), dtype=np.float64)
    for start in range(0, len(prompts), batch_size):
        chunk = [tokenizer(p, add_special_tokens=False).input_ids for p in prompts[start : start + batch_size]]
        ids, mask = pad(chunk, tokenizer.pad_token_id, left=True)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                       logits_to_keep=1).logits  # fmt: skip
        out[start : start + len(chunk)] = logits[:, -1, yes].float().cpu().numpy()
    return out
