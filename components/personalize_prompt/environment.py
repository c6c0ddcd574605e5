"""RPP's ranking environment (Mao et al., TOIS 2025): per user, 10 candidates (the held-out item and 9 negatives the
prepare step sampled, in a seeded order per user), a prompt assembled from the agents' choices, the frozen LLM's
ranking of the candidates, and NDCG@10 of the held-out item as the reward.

Two ranking modes: `generate` asks for the order numbers and parses the answer (an answer naming no candidate ranks
as the candidate order and counts as a parse failure); `likelihood` orders the candidates by the mean token
log-probability of each title after the prompt, one forward of the prompt shared by its 10 titles through the KV
cache (components/recsys/scoring.py), for rankers too small to write a parseable list. Both also return the LLM's
mean last-layer hidden state over each prompt, the agents' view of the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from components.common.errors import ConfigError, DataError
from components.common.prepared import SplitArrays
from components.personalize_prompt.actions import MODES
from components.personalize_prompt.parse import parse_order
from components.recsys.metrics import ndcg_at_k

N_CANDIDATES = 10


def candidate_lists(split: SplitArrays, rows: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, 10) item ids and (rows,) position of the held-out item: the target and the first 9 negatives of the
    prepared candidate list, in an order seeded per user (the same whatever batch a user is in)."""
    out = np.zeros((len(rows), N_CANDIDATES), dtype=np.int64)
    position = np.zeros(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        target = int(split.targets[row])
        negatives = [int(c) for c in split.candidates[row] if c != target][: N_CANDIDATES - 1]
        if len(negatives) < N_CANDIDATES - 1:
            raise DataError(
                "candidates",
                f"user {int(split.users[row])} has {len(negatives)} negatives; expected 9 (prepare with "
                "num_negatives >= 9)",
            )
        order = np.random.default_rng([seed, int(split.users[row])]).permutation(N_CANDIDATES)
        items = np.array([target, *negatives], dtype=np.int64)[order]
        out[i] = items
        position[i] = int(np.flatnonzero(order == 0)[0])
    return out, position


@dataclass
class Ranking:
    """What the ranker made of a batch of prompts."""

    orders: np.ndarray  # (users, 10) candidate positions, best first
    failed: np.ndarray  # (users,) bool: the answer named no candidate (generate mode)
    pooled: np.ndarray  # (users, hidden) float32 mean last-layer state over each prompt ((users, 0) when not asked)
    answers: list[str]  # the raw answers (generate mode; empty strings otherwise)


def reward(orders: np.ndarray, target_position: np.ndarray, k: int = 10) -> np.ndarray:
    """(users,) NDCG@k of the held-out item in each order."""
    ranks = np.argmax(orders == target_position[:, None], axis=1) + 1  # (users,) 1-based
    return np.array([ndcg_at_k([r], k) for r in ranks])


class Ranker:
    """The frozen LLM as a ranker of numbered candidates (chat-formatted prompts)."""

    def __init__(self, model: Any, tokenizer: Any, mode: str, max_new_tokens: int = 48, batch_users: int = 8) -> None:
        if mode not in MODES:
            raise ConfigError("rpp.rpp_mode", f"got {mode!r}; expected one of {', '.join(MODES)}")
        self.model, self.tokenizer, self.mode = model, tokenizer, mode
        self.max_new_tokens, self.batch_users = max_new_tokens, batch_users
        self.model.eval()

    def _chat(self, text: str) -> str:
        from components.recsys.prompts import chat_prompt

        if getattr(self.tokenizer, "chat_template", None):
            return chat_prompt(self.tokenizer, text)
        return text + "\nAnswer:"

    def rank(self, prompts: Sequence[str], candidate_titles: Sequence[Sequence[str]], states: bool = True) -> Ranking:
        """Rank each prompt's candidates; `states`: also the pooled prompt states (the agents' next state; the
        baselines do not need them, and they cost a forward of every prompt)."""
        chats = [self._chat(p) for p in prompts]
        pooled = self.pooled_states(chats) if states else np.zeros((len(chats), 0), np.float32)
        if self.mode == "likelihood":
            from components.recsys.scoring import score_shared_prompt

            scores = score_shared_prompt(
                self.model, self.tokenizer, [c + " " for c in chats], candidate_titles, self.batch_users
            )  # (users, 10)
            orders = np.argsort(-scores, axis=1, kind="stable")
            return Ranking(orders, np.zeros(len(prompts), bool), pooled, [""] * len(prompts))
        from components.recsys.generative import generate_answers

        answers = generate_answers(
            self.model, self.tokenizer, chats, self.max_new_tokens, self.batch_users, first_line=False
        )
        parsed = [parse_order(a, N_CANDIDATES, t) for a, t in zip(answers, candidate_titles, strict=True)]
        orders = np.array([p.order for p in parsed], dtype=np.int64)
        return Ranking(orders, np.array([p.failed for p in parsed]), pooled, answers)

    @torch.no_grad()
    def pooled_states(self, texts: Sequence[str]) -> np.ndarray:
        """(users, hidden) mean of the last layer's hidden states over each text's tokens."""
        from components.recsys.scoring import pad

        out = []
        device = next(self.model.parameters()).device
        for start in range(0, len(texts), self.batch_users):
            ids = [
                self.tokenizer(t, add_special_tokens=False).input_ids for t in texts[start : start + self.batch_users]
            ]
            batch, mask = pad(ids, self.tokenizer.pad_token_id, left=True)  # (B, T)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            hidden = (
                self.model(
                    input_ids=batch.to(device),
                    attention_mask=mask.to(device),
                    position_ids=positions.to(device),
                    output_hidden_states=True,
                )
                .hidden_states[-1]
                .float()
            )  # (B, T, H)
            weights = mask.to(device).float()[..., None]  # (B, T, 1)
            out.append(((hidden * weights).sum(1) / weights.sum(1)).cpu().numpy())
        return np.concatenate(out).astype(np.float32)
