"""Candidate scoring for LLM recommenders: the length-normalised log-likelihood of each candidate's title
(plus the end-of-sequence token) after the user's prompt.

The prompt, shared by all of a user's candidates, is encoded once; its KV cache is repeated for the
candidates, which are then scored in one batched forward. `score_full` (one full forward per candidate) is the
plain alternative, kept for tests and the benchmark: both give the same scores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch


def pad(sequences: Sequence[Sequence[int]], pad_id: int, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists -> (ids, attention mask), both (rows, longest); left padding ends every row at the last column."""
    width = max(len(seq) for seq in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        cols = slice(width - len(seq), width) if left else slice(0, len(seq))
        ids[row, cols] = torch.tensor(seq, dtype=torch.long)
        mask[row, cols] = 1
    return ids, mask


def _tokens(tokenizer: Any, text: str, eos: bool = False) -> list[int]:
    ids = tokenizer(text, add_special_tokens=False).input_ids
    return [*ids, tokenizer.eos_token_id] if eos else ids


@torch.no_grad()
def score_shared_prompt(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    candidates: Sequence[Sequence[str]],
    batch_users: int = 8,
    row_inputs: Callable[[int, int, int], dict] | None = None,
) -> np.ndarray:
    """(users, C) mean token log-probability of each candidate text after its user's prompt.

    `row_inputs(start, stop, repeat)` gives extra per-row model inputs for users start..stop, each row repeated
    `repeat` times (iLoRA's gate input, for example); the prompt forward gets repeat 1, the candidates n_cands.
    """
    extra = row_inputs or (lambda start, stop, repeat: {})
    model.eval()
    device = next(model.parameters()).device
    n_cands = len(candidates[0])
    out = np.zeros((len(prompts), n_cands), dtype=np.float64)
    for start in range(0, len(prompts), batch_users):
        stop = min(start + batch_users, len(prompts))
        ids, mask = pad([_tokens(tokenizer, p) for p in prompts[start:stop]], tokenizer.pad_token_id, left=True)
        ids, mask = ids.to(device), mask.to(device)  # (B, P)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        prompt_out = model(
            input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **extra(start, stop, 1)
        )
        first_logp = torch.log_softmax(prompt_out.logits[:, -1].float(), dim=-1)  # (B, V)
        texts = [t for row in candidates[start:stop] for t in row]
        cand, cmask = pad([_tokens(tokenizer, t, eos=True) for t in texts], tokenizer.pad_token_id, left=False)
        cand, cmask = cand.to(device), cmask.to(device)  # (B*C, L)
        cache = getattr(prompt_out, "cache", None) or prompt_out.past_key_values
        cache.batch_repeat_interleave(n_cands)
        full_mask = torch.cat([mask.repeat_interleave(n_cands, 0), cmask], dim=1)  # (B*C, P+L)
        start_pos = mask.sum(-1).repeat_interleave(n_cands)[:, None]  # (B*C, 1)
        cand_pos = start_pos + torch.arange(cand.shape[1], device=device)[None]
        logits = model(
            input_ids=cand,
            attention_mask=full_mask,
            position_ids=cand_pos,
            cache=cache,
            use_cache=False,
            **{k: v for k, v in extra(start, stop, n_cands).items() if k != "soft_items"},
        ).logits  # (B*C, L, V)
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1).gather(-1, cand[:, 1:, None])[..., 0]  # (B*C, L-1)
        first = first_logp.repeat_interleave(n_cands, 0).gather(-1, cand[:, :1])[:, 0]  # (B*C,)
        total = first + (logp * cmask[:, 1:]).sum(-1)
        mean = total / cmask.sum(-1)
        out[start:stop] = mean.view(stop - start, n_cands).cpu().numpy()
    return out


@torch.no_grad()
def score_full(
    model: Any, tokenizer: Any, prompts: Sequence[str], candidates: Sequence[Sequence[str]], batch_sequences: int = 40
) -> np.ndarray:
    """The same scores with one full (prompt + candidate) forward per candidate, no cache sharing."""
    model.eval()
    device = next(model.parameters()).device
    n_cands = len(candidates[0])
    pairs = [(p, t) for p, row in zip(prompts, candidates, strict=True) for t in row]
    scores = np.zeros(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), batch_sequences):
        chunk = pairs[start : start + batch_sequences]
        parts = [(_tokens(tokenizer, prompt), _tokens(tokenizer, text, eos=True)) for prompt, text in chunk]
        ids, mask = pad([p + c for p, c in parts], tokenizer.pad_token_id, left=False)  # (rows, T)
        logp = torch.log_softmax(model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float(), -1)
        for row, (p, c) in enumerate(parts):
            targets = ids[row, len(p) : len(p) + len(c)].to(device)
            picked = logp[row, len(p) - 1 : len(p) + len(c) - 1].gather(-1, targets[:, None])
            scores[start + row] = picked.mean().item()
    return scores.reshape(len(prompts), n_cands)
