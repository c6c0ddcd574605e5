"""RPP end to end (Mao et al., TOIS 2025): train the four prompt agents on training users with a frozen LLM ranker,
then rank held-out users' candidates with RPP (greedy choices over the rounds), RPP+ (the LLM also rewrites the
reasoning sentence), every fixed template, the template that was best on the training users, and random
choices, in each evaluation mode; NDCG@1/5/10, parse failures, the agents' action distributions, and a paired
interval of RPP against the best template. Written to `results.json`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from components.common.errors import DataError
from components.common.prepared import Prepared
from components.personalize_prompt.actions import DOMAINS, PATTERNS, Domain, action_sets
from components.personalize_prompt.agents import AgentSettings, PromptAgents, action_names
from components.personalize_prompt.config import RPPConfig
from components.personalize_prompt.environment import Ranker
from components.personalize_prompt.evaluation import (
    best_method,
    method_metrics,
    paired_interval,
    per_user_ndcg,
    random_order_ndcg,
)
from components.personalize_prompt.rollout import (
    Batch,
    StateEncoder,
    build_batch,
    fixed_choice,
    random_choices,
    rank_choices,
    run_rounds,
)

log = logging.getLogger(__name__)


def templates(sets: dict[str, list[str]], count: int) -> list[dict[str, int]]:
    """`count` fixed templates: template k takes action k modulo each pattern's size (7 of them use every action of
    every pattern at least once)."""
    return [{p: k % len(sets[p]) for p in PATTERNS} for k in range(count)]


def choose_users(data: Prepared, train: int, test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint row indices into the valid split (training users) and the test split (held-out users)."""
    valid, test_split = data.split("valid"), data.split("test")
    common = np.intersect1d(valid.users, test_split.users)
    if len(common) < train + test:
        raise DataError(
            data.path / "stats.json",
            f"{len(common)} users have valid and test rows; expected rpp_train_users + rpp_test_users = {train + test}",
        )
    picked = np.random.default_rng(seed).permutation(common)
    train_users, test_users = np.sort(picked[:train]), np.sort(picked[train : train + test])
    return np.searchsorted(valid.users, train_users), np.searchsorted(test_split.users, test_users)


def refiner(model: Any, tokenizer: Any, domain: Domain, max_new_tokens: int) -> Callable:
    """RPP+: the LLM rewrites the chosen reasoning sentence for each user, given their three most recent items."""
    from components.recsys.generative import generate_answers
    from components.recsys.prompts import chat_prompt

    def refine(sentences: Sequence[str], histories: Sequence[Sequence[str]]) -> list[str]:
        asks = [
            chat_prompt(
                tokenizer,
                f"Rewrite this instruction for ranking {domain.items} so that it suits a user who recently "
                f"{domain.verb} {', '.join(h[-3:]) or 'nothing yet'}. Reply with the rewritten instruction only.\n"
                f"Instruction: {s}",
            )
            for s, h in zip(sentences, histories, strict=True)
        ]
        answers = generate_answers(model, tokenizer, asks, max_new_tokens, batch_size=8)
        return [a if a else s for a, s in zip(answers, sentences, strict=True)]

    return refine


def _batches(rows: np.ndarray, size: int) -> list[np.ndarray]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


AGENTS_FILE, INFO_FILE = "agents.pt", "agents.json"


@dataclass
class World:
    """Everything training and evaluation share: the data, the domain's sentences, the frozen LLM, the state
    encoder and the users, in batches."""

    data: Prepared
    domain: Domain
    sets: dict[str, list[str]]
    model: Any
    tokenizer: Any
    encoder: StateEncoder
    batches: dict[str, list[Batch]]
    rows: dict[str, np.ndarray]


def load_world(config: RPPConfig, dataset_dir: str | Path, sasrec_dir: str | Path, base_model: str) -> World:
    from components.common.models import load_base_model
    from components.recsys.sasrec import load_sasrec

    data = Prepared(dataset_dir)
    domain = DOMAINS[data.stats["config"]["dataset"]]
    sasrec = load_sasrec(sasrec_dir)
    model, tokenizer = load_base_model(base_model, corpus=data.titles, seed=config.rpp_seed)
    model.eval()
    train_rows, test_rows = choose_users(data, config.rpp_train_users, config.rpp_test_users, config.rpp_seed)
    splits = {"train": (data.split("valid"), train_rows), "test": (data.split("test"), test_rows)}
    batches = {name: _user_batches(data, sasrec, split, rows, config) for name, (split, rows) in splits.items()}
    items = sasrec.item_emb.weight.detach()[1:].numpy()  # (n_items, H): dense ids shifted by one in SASRec
    encoder = StateEncoder(sasrec.hidden, model.config.hidden_size, items, seed=config.rpp_seed)
    return World(data, domain, action_sets(domain), model, tokenizer, encoder, batches,
                 {"train": train_rows, "test": test_rows})  # fmt: skip


def _agents(world: World, config: RPPConfig) -> PromptAgents:
    settings = AgentSettings(config.rpp_gamma, config.rpp_actor_lr, config.rpp_critic_lr, config.rpp_entropy)
    return PromptAgents(action_names(world.sets), world.encoder.dim, settings, seed=config.rpp_seed)


def _refine(world: World, config: RPPConfig) -> Callable | None:
    return refiner(world.model, world.tokenizer, world.domain, config.rpp_max_new_tokens) if config.rpp_plus else None


def train(
    config: RPPConfig,
    world: World,
    out_dir: str | Path,
    on_epoch: Callable[[int, float], None] | None = None,
) -> dict:
    """Train the agents on the training users (`rpp_epochs` passes of `rpp_rounds` rounds) with the LLM ranking in
    `rpp_mode`; writes the agents to `out_dir` and returns the record (the learning curve included)."""
    from components.common.atomic import atomic_dir

    started = time.perf_counter()
    agents = _agents(world, config)
    ranker = Ranker(world.model, world.tokenizer, config.rpp_mode, config.rpp_max_new_tokens, config.rpp_batch_users)
    refine = _refine(world, config)
    curve = []
    for epoch in range(config.rpp_epochs):
        rewards = [run_rounds(agents, world.encoder, ranker, world.sets, world.domain, b, config.rpp_rounds, True,
                              refine).ndcg for b in world.batches["train"]]  # fmt: skip
        curve.append(float(np.concatenate(rewards).mean()))
        log.info("RPP epoch %d: mean final-round NDCG@10 on the training users %.4f", epoch + 1, curve[-1])
        if on_epoch is not None:
            on_epoch(epoch + 1, curve[-1])
    record = {
        "kind": "rpp-agents",
        "config": config.to_params(),
        "training_curve": curve,
        "users": len(world.rows["train"]),
        "seconds": round(time.perf_counter() - started, 1),
    }
    with atomic_dir(out_dir) as tmp:
        torch.save(agents.state_dict(), tmp / AGENTS_FILE)
        (tmp / INFO_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def load_agents(world: World, config: RPPConfig, agents_dir: str | Path) -> PromptAgents:
    folder = Path(agents_dir)
    info = folder / INFO_FILE
    if not info.is_file() or json.loads(info.read_text(encoding="utf-8")).get("kind") != "rpp-agents":
        raise DataError(info, "not an RPP agents folder; expected one written by train-prompt-agents")
    agents = _agents(world, config)
    agents.load_state_dict(torch.load(folder / AGENTS_FILE, weights_only=True))
    return agents


def evaluate(config: RPPConfig, world: World, agents: PromptAgents, out_dir: str | Path) -> dict:
    """Every method on the held-out users in each of `rpp_eval_modes`; writes and returns results.json's content."""
    from components.common.atomic import atomic_dir

    started = time.perf_counter()
    fixed = templates(world.sets, config.rpp_templates)
    refine = _refine(world, config)
    results: dict[str, Any] = {"modes": {}, "random_order_ndcg_10": random_order_ndcg()}
    for mode in config.eval_modes:
        ranker = Ranker(world.model, world.tokenizer, mode, config.rpp_max_new_tokens, config.rpp_batch_users)
        train_scores = {
            f"template-{k}": _mean_ndcg(ranker, world, world.batches["train"], fixed_choice(t, config.rpp_rounds))
            for k, t in enumerate(fixed)
        }
        chosen = best_method(train_scores)
        methods = _evaluate_methods(agents, world, ranker, config, fixed, refine)
        methods["template-best"] = dict(methods[chosen], chosen=chosen)
        rpp = per_user_ndcg(methods["rpp"]["orders"], methods["rpp"]["targets"])
        best = per_user_ndcg(methods[chosen]["orders"], methods[chosen]["targets"])
        shown = {name: {k: v for k, v in m.items() if k not in ("orders", "targets")} for name, m in methods.items()}
        results["modes"][mode] = {
            "methods": shown,
            "best_template_on_train": chosen,
            "train_template_ndcg_10": train_scores,
            "rpp_minus_best_template_ndcg_10": paired_interval(rpp, best, seed=config.rpp_seed),
        }
    test_states = torch.cat([world.encoder.initial(b.user_vectors) for b in world.batches["test"]])
    results["action_distribution"] = {
        name: dict(zip(world.sets[name], probs, strict=True))
        for name, probs in agents.probabilities(test_states).items()
    }
    results["users"] = {"train": len(world.rows["train"]), "test": len(world.rows["test"])}
    results["seconds"] = round(time.perf_counter() - started, 1)
    with atomic_dir(out_dir) as tmp:
        (tmp / "results.json").write_text(json.dumps(results, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return results


def _user_batches(data: Prepared, sasrec: Any, split: Any, rows: np.ndarray, config: RPPConfig) -> list[Batch]:
    from components.recsys.sasrec import representations

    vectors = representations(sasrec, split.take(rows))  # (rows, H)
    size = config.rpp_batch_users
    return [
        build_batch(data.titles, split, chunk, vectors[i * size : (i + 1) * size], config.rpp_seed)
        for i, chunk in enumerate(_batches(rows, size))
    ]


def _mean_ndcg(ranker: Ranker, world: World, batches: list[Batch], choice: Any) -> float:
    """Mean NDCG@10 of one fixed choice over every user of `batches`."""
    scores = [rank_choices(ranker, world.sets, world.domain, b, [choice] * len(b.target_position)).ndcg
              for b in batches]  # fmt: skip
    return float(np.concatenate(scores).mean())


def _evaluate_methods(
    agents: PromptAgents,
    world: World,
    ranker: Ranker,
    config: RPPConfig,
    fixed: list[dict[str, int]],
    refine: Callable | None,
) -> dict[str, dict]:
    """Every method on the test users: metrics, plus each user's order and target position (for intervals)."""
    sets, domain, encoder = world.sets, world.domain, world.encoder
    outcomes: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}

    def add(name: str, orders: np.ndarray, targets: np.ndarray, failed: np.ndarray) -> None:
        outcomes.setdefault(name, []).append((orders, targets, failed))

    for i, b in enumerate(world.batches["test"]):
        users = len(b.target_position)
        out = run_rounds(agents, encoder, ranker, sets, domain, b, config.rpp_rounds, train=False)
        add("rpp", out.orders, b.target_position, out.failed)
        if refine is not None:
            plus = run_rounds(agents, encoder, ranker, sets, domain, b, config.rpp_rounds, False, refine)
            add("rpp-plus", plus.orders, b.target_position, plus.failed)
        for k, t in enumerate(fixed):
            got = rank_choices(ranker, sets, domain, b, [fixed_choice(t, config.rpp_rounds)] * users)
            add(f"template-{k}", got.orders, b.target_position, got.failed)
        sizes = {p: len(sets[p]) for p in PATTERNS}
        got = rank_choices(
            ranker, sets, domain, b, random_choices(sizes, users, config.rpp_rounds, config.rpp_seed + i)
        )
        add("random", got.orders, b.target_position, got.failed)
    methods = {}
    for name, parts in outcomes.items():
        orders, targets, failed = (np.concatenate(x) for x in zip(*parts, strict=True))
        methods[name] = {**method_metrics(orders, targets, failed), "orders": orders, "targets": targets}
    return methods
