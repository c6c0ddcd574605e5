"""RPP (Mao et al., TOIS 2025): reading rankings out of free-text answers, NDCG from a parsed order, the
textbook TD update of the agents, and learning in a synthetic environment whose reward favours known actions."""

from __future__ import annotations

import math

import pytest

from components.personalize_prompt.parse import parse_order, rank_of
from components.recsys.metrics import ndcg_at_k

TITLES = ["Toy Story", "Heat", "Casino", "Fargo", "Alien", "Brazil", "Clue", "Dune", "Jaws", "Rocky"]


@pytest.mark.parametrize(
    ("answer", "order", "named"),
    [
        ("3\n1\n7\n0\n2\n4\n5\n6\n8\n9", (3, 1, 7, 0, 2, 4, 5, 6, 8, 9), 10),  # well formed, one per line
        ("1. 4\n2. 9\n3. 0", (4, 9, 0, 1, 2, 3, 5, 6, 7, 8), 3),  # a numbered list, cut short
        ("7, 7, 2, 7, 2", (7, 2, 0, 1, 3, 4, 5, 6, 8, 9), 2),  # repeats keep the first mention
        ("12, 5, 99, 3", (5, 3, 0, 1, 2, 4, 6, 7, 8, 9), 2),  # out of range ignored
        ("I think the user would enjoy these movies!", tuple(range(10)), 0),  # garbage: candidate order
        ("", tuple(range(10)), 0),
    ],
)
def test_the_parser_on_well_formed_partial_repeated_and_garbage_answers(answer: str, order: tuple, named: int) -> None:
    parsed = parse_order(answer, 10)
    assert parsed.order == order and parsed.named == named
    assert parsed.failed == (named == 0)
    assert sorted(parsed.order) == list(range(10))


def test_titles_and_echoed_candidate_numbers() -> None:
    answer = "1. Fargo (1996)\n2. Heat\n3. toy story"
    assert parse_order(answer, 10, TITLES).order[:3] == (3, 1, 0)  # 1996 is out of range; titles are matched
    echoed = "3. Fargo\n1. Heat"  # the candidates' own numbers, as the prompt showed them
    assert parse_order(echoed, 10).order[:2] == (3, 1)
    assert parse_order(echoed, 10, TITLES).order[:2] == (3, 1)


def test_ndcg_from_a_parsed_order_by_hand() -> None:
    parsed = parse_order("4\n9\n2", 10)  # the true item, candidate 2, comes third
    rank = rank_of(parsed.order, 2)
    assert rank == 3
    assert ndcg_at_k([rank], 10) == pytest.approx(1 / math.log2(4))  # 0.5
    assert ndcg_at_k([rank], 1) == 0.0
    assert ndcg_at_k([rank_of(parse_order("nothing", 10).order, 9)], 10) == pytest.approx(1 / math.log2(11))


def test_the_td_update_against_a_hand_computation() -> None:
    import torch

    from components.personalize_prompt.agents import td_losses

    value = torch.tensor([0.5, 0.2], requires_grad=True)
    log_prob = torch.log(torch.tensor([0.25, 0.5])).requires_grad_()
    losses = td_losses(
        log_prob, torch.tensor([1.0, 0.5]), value, torch.tensor([0.8, 0.9]), torch.tensor([0.3, 1.0]),
        torch.tensor([0.0, 1.0]), gamma=0.95, entropy_weight=0.1,
    )  # fmt: skip
    # row 0: r + gamma V(s') - V(s) = 0.3 + 0.76 - 0.5 = 0.56; row 1 is terminal: 1.0 - 0.2 = 0.8
    assert losses.delta.tolist() == pytest.approx([0.56, 0.8])
    assert losses.critic.item() == pytest.approx((0.56**2 + 0.8**2) / 2)
    actor = -(math.log(0.25) * 0.56 + math.log(0.5) * 0.8) / 2 - 0.1 * 0.75
    assert losses.actor.item() == pytest.approx(actor)
    (losses.actor + losses.critic).backward()
    assert value.grad.tolist() == pytest.approx([-0.56, -0.8])  # d(delta^2)/dV(s) / batch: V(s) moves to the target
    assert log_prob.grad.tolist() == pytest.approx([-0.28, -0.4])  # the TD error itself is not differentiated


def test_the_agents_learn_the_actions_a_synthetic_reward_favours() -> None:
    """A bandit with RPP's four action sets: the reward is the share of agents that chose their favoured action
    (role 3, history 2, reasoning 5, format 1) plus noise. Each agent must end up preferring its own."""
    import torch

    from components.personalize_prompt.agents import AgentSettings, PromptAgents

    sizes = {"role": 5, "history": 3, "reasoning": 7, "format": 5}
    favoured = {"role": 3, "history": 2, "reasoning": 5, "format": 1}
    agents = PromptAgents(sizes, state_dim=8, settings=AgentSettings(actor_lr=3e-2, critic_lr=3e-2), seed=1)
    noise = torch.Generator().manual_seed(2)
    states = torch.randn(32, 8, generator=torch.Generator().manual_seed(3))  # 32 users
    for _ in range(150):
        step = agents.act(states)
        hits = sum((step.actions[name] == favoured[name]).float() for name in sizes) / len(sizes)  # (32,)
        reward = hits + 0.1 * torch.randn(32, generator=noise)
        agents.update(step, states, reward, done=True)
    learned = agents.probabilities(states)
    for name, best in favoured.items():
        assert max(range(sizes[name]), key=lambda a: learned[name][a]) == best
        assert learned[name][best] > 0.6, (name, learned[name])
    greedy = agents.act(states, greedy=True)
    assert all(bool((greedy.actions[name] == favoured[name]).all()) for name in sizes)


def test_agents_are_deterministic_for_a_seed() -> None:
    import torch

    from components.personalize_prompt.agents import PromptAgents

    sizes = {"role": 5, "history": 3}
    states = torch.ones(4, 6)
    first, second = PromptAgents(sizes, 6, seed=7), PromptAgents(sizes, 6, seed=7)
    a, b = first.act(states), second.act(states)
    assert all(torch.equal(a.actions[n], b.actions[n]) for n in sizes)
    assert first.probabilities(states) == second.probabilities(states)
    assert PromptAgents(sizes, 6, seed=8).probabilities(states) != first.probabilities(states)


@pytest.fixture(scope="module")
def movielens(tmp_path_factory: pytest.TempPathFactory):
    from components.common.prepared import Prepared
    from components.prepare_data.config import PrepareConfig
    from components.prepare_data.core import prepare

    root = tmp_path_factory.mktemp("rpp")
    prepare(PrepareConfig(), root / "data")
    return Prepared(root / "data")


def test_candidate_lists_are_seeded_per_user_and_hold_the_target(movielens) -> None:
    import numpy as np

    from components.personalize_prompt.environment import candidate_lists

    split = movielens.split("test")
    rows = np.arange(10)
    items, position = candidate_lists(split, rows, seed=3)
    assert items.shape == (10, 10) and (items[np.arange(10), position] == split.targets[rows]).all()
    assert all(len(set(row)) == 10 for row in items.tolist())
    again, _ = candidate_lists(split, rows[5:], seed=3)  # the same users in another batch
    assert (again == items[5:]).all()
    other, other_position = candidate_lists(split, rows, seed=4)
    assert (np.sort(other, 1) == np.sort(items, 1)).all() and not (other_position == position).all()
    assert len(set(position.tolist())) > 3  # the held-out item is not always in one place


def test_candidate_lists_need_nine_negatives(tmp_path) -> None:
    import numpy as np

    from components.common.errors import DataError
    from components.common.prepared import Prepared
    from components.personalize_prompt.environment import candidate_lists
    from components.prepare_data.config import PrepareConfig
    from components.prepare_data.core import prepare

    prepare(PrepareConfig(num_negatives=5), tmp_path / "data")
    with pytest.raises(DataError, match=r"has 5 negatives; expected 9 \(prepare with num_negatives >= 9\)"):
        candidate_lists(Prepared(tmp_path / "data").split("test"), np.arange(2), seed=0)


@pytest.fixture(scope="module")
def smollm2() -> tuple:
    from components.common import pretrained
    from components.common.models import load_base_model

    assert pretrained.cached("smollm2-135m") is not None, "run `recforge models prepare smollm2-135m` first"
    model, tokenizer = load_base_model("smollm2-135m")
    return model.eval(), tokenizer


def _rollout(movielens, smollm2, mode: str, users: int, rounds: int, seed: int):
    import numpy as np

    from components.personalize_prompt.actions import DOMAINS, action_sets
    from components.personalize_prompt.agents import PromptAgents, action_names
    from components.personalize_prompt.environment import Ranker
    from components.personalize_prompt.rollout import StateEncoder, build_batch, run_rounds

    model, tokenizer = smollm2
    split = movielens.split("test")
    rows = np.arange(users)
    vectors = np.random.default_rng(0).normal(size=(users, 16)).astype(np.float32)  # stand-in user embeddings
    batch = build_batch(movielens.titles, split, rows, vectors, seed=seed)
    domain = DOMAINS["movielens-latest-small"]
    sets = action_sets(domain)
    items = np.random.default_rng(1).normal(size=(movielens.n_items, 8)).astype(np.float32)
    encoder = StateEncoder(16, model.config.hidden_size, items, seed=seed)
    agents = PromptAgents(action_names(sets), encoder.dim, seed=seed)
    ranker = Ranker(model, tokenizer, mode, max_new_tokens=40, batch_users=4)
    return run_rounds(agents, encoder, ranker, sets, domain, batch, rounds, train=True), batch


def test_rounds_with_the_pretrained_ranker_are_deterministic_for_a_seed(movielens, smollm2) -> None:
    first, _ = _rollout(movielens, smollm2, "likelihood", users=4, rounds=2, seed=5)
    second, _ = _rollout(movielens, smollm2, "likelihood", users=4, rounds=2, seed=5)
    assert (first.ndcg == second.ndcg).all() and first.actions == second.actions
    assert first.ndcg.shape == (4,) and ((first.ndcg > 0) & (first.ndcg <= 1)).all()  # all 10 are ranked
    assert not first.failed.any()  # likelihood ranking always yields an order
    assert sorted(first.orders[0].tolist()) == list(range(10))
    assert {len(v) for v in first.actions.values()} == {8}  # 4 users x 2 rounds per pattern


def test_generated_answers_are_parsed_and_failures_counted(movielens, smollm2) -> None:
    outcome, _ = _rollout(movielens, smollm2, "generate", users=2, rounds=1, seed=5)
    assert outcome.orders.shape == (2, 10) and all(sorted(o) == list(range(10)) for o in outcome.orders.tolist())
    assert outcome.failed.dtype == bool


def test_evaluation_helpers_by_hand() -> None:
    import numpy as np

    from components.personalize_prompt.evaluation import method_metrics, paired_interval, random_order_ndcg

    orders = np.array([list(range(10)), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]])
    found = method_metrics(orders, np.array([0, 5]), np.array([False, True]))
    # user 0: rank 1 (NDCG 1); user 1: candidate 5 is 5th (NDCG@5 = 1/log2 6, NDCG@1 = 0)
    assert found["ndcg_1"] == pytest.approx(0.5)
    assert found["ndcg_5"] == pytest.approx((1 + 1 / math.log2(6)) / 2)
    assert found["parse_failure_rate"] == 0.5
    assert random_order_ndcg() == pytest.approx(sum(1 / math.log2(r + 1) for r in range(1, 11)) / 10)  # 0.4544
    same = paired_interval(np.ones(50), np.ones(50), seed=0)
    assert same == {"mean": 0.0, "low": 0.0, "high": 0.0}
    better = paired_interval(np.full(40, 0.6), np.r_[np.full(20, 0.5), np.full(20, 0.3)], seed=0)
    assert better["mean"] == pytest.approx(0.2) and 0.1 < better["low"] < 0.2 < better["high"] < 0.3
