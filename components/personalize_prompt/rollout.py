"""Rounds of RPP (Mao et al., TOIS 2025) over a batch of users: the agents choose, the prompts are assembled, the
frozen LLM ranks, NDCG@10 rewards, the state moves on; and the fixed-template and random baselines on the same users
and candidates.

State (`StateEncoder`, 3 x 64): the user's SASRec sequence representation, then, once the LLM has ranked, its pooled
hidden state of the current prompt and a GRU summary of the SASRec item embeddings of the ranked list, in that
order (zeros before the first ranking). Projections and the GRU are seeded and not trained (the reference uses a
PCA of BERT embeddings and a GRU; README, deviations).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from components.common.prepared import SplitArrays
from components.personalize_prompt.actions import HISTORY_START, HISTORY_STEPS, PATTERNS, Choice, Domain, render
from components.personalize_prompt.agents import PromptAgents
from components.personalize_prompt.environment import Ranker, candidate_lists, reward

STATE_PART = 64


class StateEncoder:
    """[user | prompt | ranked list] -> (users, 3 * 64)."""

    def __init__(self, user_dim: int, llm_dim: int, item_vectors: np.ndarray, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.user_proj = torch.randn(user_dim, STATE_PART, generator=generator) / math.sqrt(user_dim)
        self.llm_proj = torch.randn(llm_dim, STATE_PART, generator=generator) / math.sqrt(llm_dim)
        self.items = torch.from_numpy(np.asarray(item_vectors, dtype=np.float32))  # (n_items, d)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.gru = torch.nn.GRU(self.items.shape[1], STATE_PART, batch_first=True)

    @property
    def dim(self) -> int:
        return 3 * STATE_PART

    def _user(self, users: np.ndarray) -> torch.Tensor:
        return F.layer_norm(torch.from_numpy(users).float() @ self.user_proj, (STATE_PART,))  # (B, 64)

    def initial(self, users: np.ndarray) -> torch.Tensor:  # users (B, user_dim) -> (B, 192)
        zeros = torch.zeros(len(users), 2 * STATE_PART)
        return torch.cat([self._user(users), zeros], dim=1)

    @torch.no_grad()
    def after(self, users: np.ndarray, pooled: np.ndarray, ranked_items: np.ndarray) -> torch.Tensor:
        """users (B, user_dim), pooled (B, llm_dim), ranked_items (B, 10) item ids best first -> (B, 192)."""
        prompt = F.layer_norm(torch.from_numpy(pooled).float() @ self.llm_proj, (STATE_PART,))
        _, last = self.gru(self.items[torch.from_numpy(ranked_items)])  # last (1, B, 64)
        return torch.cat([self._user(users), prompt, last[0]], dim=1)


@dataclass
class Batch:
    """Users to rank for: SASRec representations, history titles, candidates (item ids and titles), the held-out
    item's position."""

    user_vectors: np.ndarray  # (B, user_dim)
    histories: list[list[str]]  # titles, oldest first
    candidates: np.ndarray  # (B, 10) item ids
    candidate_titles: list[list[str]]
    target_position: np.ndarray  # (B,)


@dataclass
class Outcome:
    """Per user: the final round's NDCG@10 (and the order it came from), whether its answer failed to parse, and the
    actions chosen in every round."""

    ndcg: np.ndarray  # (B,)
    orders: np.ndarray  # (B, 10)
    failed: np.ndarray  # (B,) bool
    actions: dict[str, list[int]] = field(default_factory=dict)  # pattern -> every choice made


Refiner = Callable[[Sequence[str], Sequence[Sequence[str]]], list[str]]  # RPP+: sentences, histories -> rewritten


def run_rounds(
    agents: PromptAgents,
    encoder: StateEncoder,
    ranker: Ranker,
    sets: Mapping[str, Sequence[str]],
    domain: Domain,
    batch: Batch,
    rounds: int,
    train: bool,
    refine: Refiner | None = None,
) -> Outcome:
    """`rounds` rounds of choosing, ranking and (with `train`) a TD update after each; greedy choices otherwise."""
    users = len(batch.target_position)
    state = encoder.initial(batch.user_vectors)
    history_len = np.full(users, HISTORY_START)
    actions: dict[str, list[int]] = {p: [] for p in PATTERNS}
    outcome = None
    for r in range(rounds):
        step = agents.act(state, greedy=not train)
        chosen = {p: step.actions[p].numpy() for p in PATTERNS}
        history_len = history_len + np.array(HISTORY_STEPS)[chosen["history"]]
        choices = [Choice(*(int(chosen[p][u]) for p in PATTERNS), int(history_len[u])) for u in range(users)]
        outcome = rank_choices(ranker, sets, domain, batch, choices, refine, states=r < rounds - 1 or train)
        for p in PATTERNS:
            actions[p].extend(chosen[p].tolist())
        if outcome.pooled.shape[1] == 0:  # the last greedy round: no next state is needed
            break
        next_state = encoder.after(batch.user_vectors, outcome.pooled, _ranked_items(batch, outcome.orders))
        if train:
            agents.update(step, next_state, torch.from_numpy(outcome.ndcg).float(), done=r == rounds - 1)
        state = next_state
    assert outcome is not None
    return Outcome(outcome.ndcg, outcome.orders, outcome.failed, actions)


@dataclass
class _Ranked:
    ndcg: np.ndarray
    orders: np.ndarray
    failed: np.ndarray
    pooled: np.ndarray


def rank_choices(
    ranker: Ranker,
    sets: Mapping[str, Sequence[str]],
    domain: Domain,
    batch: Batch,
    choices: Sequence[Choice],
    refine: Refiner | None = None,
    states: bool = False,
) -> _Ranked:
    """Rank every user's candidates under the prompt `choices` gives (its reasoning sentence rewritten by `refine`,
    RPP+)."""
    reasoning = None
    if refine is not None:
        reasoning = refine([sets["reasoning"][c.reasoning] for c in choices], batch.histories)
    prompts = [
        render(sets, c, domain, batch.histories[u], batch.candidate_titles[u], reasoning[u] if reasoning else None)
        for u, c in enumerate(choices)
    ]
    ranking = ranker.rank(prompts, batch.candidate_titles, states)
    return _Ranked(reward(ranking.orders, batch.target_position), ranking.orders, ranking.failed, ranking.pooled)


def _ranked_items(batch: Batch, orders: np.ndarray) -> np.ndarray:
    return np.take_along_axis(batch.candidates, orders, axis=1)  # (B, 10) item ids, best first


def fixed_choice(template: Mapping[str, int], rounds: int) -> Choice:
    """A template applied in every round: its history step taken `rounds` times."""
    length = HISTORY_START + HISTORY_STEPS[template["history"]] * rounds
    return Choice(template["role"], template["history"], template["reasoning"], template["format"], length)


def random_choices(sizes: Mapping[str, int], users: int, rounds: int, seed: int) -> list[Choice]:
    """Uniformly random actions per user and round, as the final round's prompt sees them."""
    rng = np.random.default_rng(seed)
    draws = {p: rng.integers(0, sizes[p], size=(rounds, users)) for p in PATTERNS}
    lengths = HISTORY_START + np.array(HISTORY_STEPS)[draws["history"]].sum(0)  # (users,)
    return [Choice(*(int(draws[p][-1, u]) for p in PATTERNS), int(lengths[u])) for u in range(users)]


def build_batch(
    titles: Sequence[str], split: SplitArrays, rows: np.ndarray, user_vectors: np.ndarray, seed: int
) -> Batch:
    """The Batch of `rows` of `split` (SASRec representations `user_vectors`, one per row)."""
    candidates, position = candidate_lists(split, rows, seed)
    return Batch(
        user_vectors=np.asarray(user_vectors, dtype=np.float32),
        histories=[[titles[i] for i in split.history(int(r))] for r in rows],
        candidates=candidates,
        candidate_titles=[[titles[i] for i in row] for row in candidates],
        target_position=position,
    )
