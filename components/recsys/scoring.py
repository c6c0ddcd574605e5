"""Candidate scoring for LLM recommenders: the length-normalised log-likelihood of each candidate's title
(plus the end-of-sequence token) after the user's prompt.

The prompt, shared by all of a user's candidates, is encoded once. Its KV cache is then extended, in one forward
per batch of users, by all of the user's candidates packed into one block: each candidate token sees the prompt
and the earlier tokens of its own candidate only (a 4D attention mask), at the positions it would have right after
the prompt. No cache is copied per candidate and no candidate is padded to the longest one (on SmolLM2-135M's
20 LLaRA candidates, 2.4 times fewer positions than one padded row per candidate). Only the log-probabilities of
the candidate tokens are taken (gather minus logsumexp: no full log-softmax copy). `score_full` (one full forward
per candidate) is the plain alternative, kept for tests and the benchmark: both give the same scores.
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


def pack_candidates(rows: Sequence[Sequence[Sequence[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Each user's candidate token lists packed into one row: ids, segment (candidate index, -1 on padding) and
    offset within the candidate, each (users, T) with T the longest packed row."""
    width = max(sum(len(c) for c in cands) for cands in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    segment = torch.full((len(rows), width), -1, dtype=torch.long)
    offset = torch.zeros((len(rows), width), dtype=torch.long)
    for row, cands in enumerate(rows):
        col = 0
        for index, tokens in enumerate(cands):
            span = slice(col, col + len(tokens))
            ids[row, span] = torch.tensor(tokens, dtype=torch.long)
            segment[row, span] = index
            offset[row, span] = torch.arange(len(tokens))
            col += len(tokens)
    return {"ids": ids, "segment": segment, "offset": offset}


def block_mask(prompt_mask: torch.Tensor, segment: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """(users, 1, T, P + T) boolean mask (True: attend): every packed token sees the prompt's real tokens and the
    tokens of its own candidate up to itself; padding positions see the prompt only (their outputs are unused)."""
    same = (segment[:, :, None] == segment[:, None, :]) & (segment[:, :, None] >= 0)  # (B, T, T)
    causal = offset[:, None, :] <= offset[:, :, None]  # key offset <= query offset
    own = torch.eye(segment.shape[1], dtype=torch.bool)[None]  # padding rows keep at least the prompt
    block = (same & causal) | (own & (segment[:, :, None] < 0))
    prompt = prompt_mask.bool()[:, None, :].expand(-1, segment.shape[1], -1)  # (B, T, P)
    return torch.cat([prompt, block], dim=-1)[:, None]


def _as_model_mask(mask: torch.Tensor, model: Any, dtype: torch.dtype) -> torch.Tensor:
    """Boolean for SDPA; additive (0 / most negative) for eager attention."""
    config = getattr(model, "config", None) or model.model.config
    if getattr(config, "_attn_implementation", "sdpa") == "eager":
        return torch.zeros(mask.shape, dtype=dtype).masked_fill(~mask, torch.finfo(dtype).min)
    return mask


@torch.inference_mode()
def score_shared_prompt(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    candidates: Sequence[Sequence[str]],
    batch_users: int = 8,
    row_inputs: Callable[[np.ndarray], dict] | None = None,
) -> np.ndarray:
    """(users, C) mean token log-probability of each candidate text after its user's prompt.

    Users are batched in order of prompt length (little left padding). `row_inputs(users)` gives extra per-user
    model inputs for those user indices (iLoRA's gate input, for example); a `soft_items` entry goes to the prompt's
    forward only.
    """
    extra = row_inputs or (lambda users: {})
    model.eval()
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    n_cands = len(candidates[0])
    out = np.zeros((len(prompts), n_cands), dtype=np.float64)
    encoded = [_tokens(tokenizer, p) for p in prompts]
    order = np.argsort([len(e) for e in encoded], kind="stable")
    for start in range(0, len(prompts), batch_users):
        users = order[start : start + batch_users]
        inputs = extra(users)
        ids, mask = pad([encoded[u] for u in users], tokenizer.pad_token_id, left=True)
        ids, mask = ids.to(device), mask.to(device)  # (B, P)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        prompt_out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **inputs)
        first = prompt_out.logits[:, -1].float().log_softmax(-1)  # (B, V): each candidate's first token
        packed = pack_candidates(
            [[_tokens(tokenizer, t, eos=True) for t in candidates[u]] for u in users], tokenizer.pad_token_id
        )
        cand, segment, offset = (packed[k].to(device) for k in ("ids", "segment", "offset"))  # (B, T) each
        cache = getattr(prompt_out, "cache", None) or prompt_out.past_key_values
        logits = model(
            input_ids=cand,
            attention_mask=_as_model_mask(block_mask(mask, segment, offset), model, dtype),
            position_ids=mask.sum(-1, keepdim=True) + offset,
            cache=cache,
            use_cache=False,
            **{k: v for k, v in inputs.items() if k != "soft_items"},
        ).logits.float()  # (B, T, V)
        # token t (offset > 0) is predicted at t-1 inside its candidate; offset 0 by the prompt's last position
        inner = logits[:, :-1].gather(-1, cand[:, 1:, None])[..., 0] - logits[:, :-1].logsumexp(-1)  # (B, T-1)
        opening = first.gather(-1, cand)  # (B, T)
        picked = torch.where(offset == 0, opening, torch.cat([opening[:, :1], inner], dim=1))  # (B, T)
        real = segment >= 0
        rows = torch.arange(len(users), device=device)[:, None].expand_as(segment)
        slots = (rows * n_cands + segment.clamp(min=0))[real]
        total = torch.zeros(len(users) * n_cands, device=device).index_add(0, slots, picked[real])
        length = torch.zeros(len(users) * n_cands, device=device).index_add(0, slots, real[real].float())
        out[users] = (total / length).view(len(users), n_cands).cpu().numpy()
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
