"""Candidate scoring for LLM recommenders: the length-normalised log-likelihood of each candidate's title
(plus the end-of-sequence token) after the user's prompt.

The prompt, shared by all of a user's candidates, is encoded once; its KV cache is repeated for the
candidates, which are then scored in one batched forward. `score_full` (one full forward per candidate) is the
plain alternative, kept for tests and the benchmark: both give the same scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


def _prompt_batch(tokenizer: Any, prompts: Sequence[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    ids = [tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    width = max(len(i) for i in ids)
    pad = tokenizer.pad_token_id
    batch = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, seq in enumerate(ids):  # left padding: every prompt ends at the last column
        batch[row, width - len(seq) :] = torch.tensor(seq)
        mask[row, width - len(seq) :] = 1
    return batch.to(device), mask.to(device)


def _candidate_batch(tokenizer: Any, texts: Sequence[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    eos = tokenizer.eos_token_id
    ids = [[*tokenizer(t, add_special_tokens=False).input_ids, eos] for t in texts]
    width = max(len(i) for i in ids)
    batch = torch.full((len(ids), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, seq in enumerate(ids):  # right padding
        batch[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
    return batch.to(device), mask.to(device)


@torch.no_grad()
def score_shared_prompt(
    model: Any, tokenizer: Any, prompts: Sequence[str], candidates: Sequence[Sequence[str]], batch_users: int = 8
) -> np.ndarray:
    """(users, C) mean token log-probability of each candidate text after its user's prompt."""
    model.eval()
    device = next(model.parameters()).device
    n_cands = len(candidates[0])
    out = np.zeros((len(prompts), n_cands), dtype=np.float64)
    for start in range(0, len(prompts), batch_users):
        stop = min(start + batch_users, len(prompts))
        ids, mask = _prompt_batch(tokenizer, prompts[start:stop], device)  # (B, P)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        prompt_out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
        first_logp = torch.log_softmax(prompt_out.logits[:, -1].float(), dim=-1)  # (B, V)
        texts = [t for row in candidates[start:stop] for t in row]
        cand, cmask = _candidate_batch(tokenizer, texts, device)  # (B*C, L)
        cache = getattr(prompt_out, "cache", None) or prompt_out.past_key_values
        cache.batch_repeat_interleave(n_cands)
        full_mask = torch.cat([mask.repeat_interleave(n_cands, 0), cmask], dim=1)  # (B*C, P+L)
        start_pos = mask.sum(-1).repeat_interleave(n_cands)[:, None]  # (B*C, 1)
        cand_pos = start_pos + torch.arange(cand.shape[1], device=device)[None]
        logits = model(
            input_ids=cand, attention_mask=full_mask, position_ids=cand_pos, cache=cache, use_cache=False
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
    eos = tokenizer.eos_token_id
    for start in range(0, len(pairs), batch_sequences):
        chunk = pairs[start : start + batch_sequences]
        seqs, spans = [], []
        for prompt, text in chunk:
            p = tokenizer(prompt, add_special_tokens=False).input_ids
            c = [*tokenizer(text, add_special_tokens=False).input_ids, eos]
            seqs.append(p + c)
            spans.append((len(p), len(c)))
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, seq in enumerate(seqs):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        logp = torch.log_softmax(model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float(), -1)
        for row, (p_len, c_len) in enumerate(spans):
            targets = ids[row, p_len : p_len + c_len].to(device)
            picked = logp[row, p_len - 1 : p_len + c_len - 1].gather(-1, targets[:, None])
            scores[start + row] = picked.mean().item()
    return scores.reshape(len(prompts), n_cands)
