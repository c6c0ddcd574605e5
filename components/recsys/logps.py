"""Summed completion log-probabilities of (prompt, completion) token sequences, projecting only completion
positions through the vocabulary (the same idea as SFT's completion head: no full-vocabulary logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from components.recsys.scoring import pad


def pack(prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int, max_length: int) -> dict:
    """Right-padded prompt+completion rows with a completion mask; prompts are cut from the left to fit."""
    rows, marks = [], []
    for prompt, completion in zip(prompts, completions, strict=True):
        keep = max(1, max_length - len(completion))
        prompt = list(prompt)[-keep:]
        rows.append([*prompt, *completion])
        marks.append([0] * len(prompt) + [1] * len(completion))
    ids, mask = pad(rows, pad_id, left=False)
    completion_mask, _ = pad(marks, 0, left=False)
    return {"input_ids": ids, "attention_mask": mask, "completion_mask": completion_mask}


def completion_logps(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    completion_mask: torch.Tensor,
    head: Any | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(summed log-probs (rows,), completion lengths (rows,), a zero-valued term tying every output to the graph).

    `model` may be wrapped (DDP, PEFT); `head` is its output embedding (defaults to model.get_output_embeddings()).
    """
    out = model(
        input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True, logits_to_keep=1, use_cache=False
    )
    hidden = out.hidden_states[-1][:, :-1]  # (rows, T-1, H): position t predicts token t+1
    targets = input_ids[:, 1:]
    keep = completion_mask[:, 1:].bool()  # (rows, T-1)
    head = head if head is not None else model.get_output_embeddings()
    logp = torch.log_softmax(head(hidden[keep]).float(), dim=-1)  # (N, V)
    picked = logp.gather(-1, targets[keep][:, None])[:, 0]  # (N,)
    row = torch.arange(input_ids.shape[0], device=input_ids.device)[:, None].expand_as(keep)[keep]
    sums = torch.zeros(input_ids.shape[0], dtype=picked.dtype, device=picked.device).index_add(0, row, picked)
    return sums, keep.sum(-1), 0.0 * out.logits.sum()
