"""NIRec's pieces (Pan et al., arXiv 2409.08934) against hand computations: the ground-truth click model, the softmax
with an extra zero logit, the top-K penalty, the greedy exposure search (and its per-flip recomputation), the
estimator's recovery of planted interference, IoIP/DtNE, and the errors on bad friendship graphs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from components.common.errors import ConfigError, DataError
from components.social_steering import completion, core, greedy, metrics, simulate
from components.social_steering.config import EstimatorConfig, PolicyConfig, SimulationConfig
from components.social_steering.estimators import softmax_one
from components.social_steering.graph import from_pairs, incoming_pairs
from components.social_steering.synthetic import world
from components.social_steering.train import Batches, evaluate, fit
from components.social_steering.truth import Truth


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def three_users() -> tuple[Truth, object]:
    users = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 1.0]])
    items = np.array([[2.0, 1.0]])
    return Truth(users, items, beta=10.0), from_pairs(np.array([0, 0]), np.array([1, 2]), 3)


def test_ground_truth_click_model_matches_a_hand_computation() -> None:
    truth, graph = three_users()
    exposed = np.array([1 * 1 + 0])  # only user 1 saw item 0: key 1 * n_items + 0
    users, items = np.array([0, 1, 2]), np.array([0, 0, 0])
    sample, edge = incoming_pairs(graph, users, items, exposed, 1)
    logits = truth.click_logit(graph, users, items, sample, edge)
    # user 0: x = 3 (own term 0); friend 1 exposed: x_1 = 4, weight sigmoid(e0.e1 = 2) / sqrt(deg 0 = 2)
    hand_0 = 0.25 * (3 - 3) + 10 * sig(2.0) / math.sqrt(2) * 0.25 * (4 - 3)
    # user 1: x = 4; its one friend (user 0) saw nothing. user 2: x = 1; friend 0 saw nothing.
    assert logits == pytest.approx([hand_0, 0.25 * (4 - 3), 0.25 * (1 - 3)])
    # both friends exposed: user 2 (x_2 = 1) adds 10 * sigmoid(1) / sqrt(2) * 0.25 * (1 - 3)
    sample, edge = incoming_pairs(graph, users, items, np.array([1, 2]), 1)
    both = truth.click_logit(graph, users, items, sample, edge)[0]
    assert both == pytest.approx(hand_0 + 10 * sig(1.0) / math.sqrt(2) * 0.25 * (1 - 3))


def test_softmax_with_an_extra_zero_logit() -> None:
    scores = torch.tensor([0.5, -1.0, 2.0, 30.0])
    groups, slots = torch.tensor([0, 0, 2, 3]), torch.tensor([0, 1, 0, 0])
    weights = softmax_one(scores, groups, slots, 4)
    denominator = 1 + math.exp(0.5) + math.exp(-1.0)
    assert weights[:2].tolist() == pytest.approx([math.exp(0.5) / denominator, math.exp(-1.0) / denominator])
    assert weights[2].item() == pytest.approx(math.exp(2) / (1 + math.exp(2)))
    assert weights[3].item() == pytest.approx(1.0) and torch.isfinite(weights).all()  # no overflow at large logits
    assert weights[:2].sum() < 1  # the zero logit keeps some mass: a group's weights never sum to one


def test_top_k_change_inserts_removes_and_charges_a_clicked_item() -> None:
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.1], [0.9, 0.8, 0.7, 0.6, 0.1]])
    top = np.array([[0, 1, 2], [0, 1, 2]])  # K = 2: lists [0, 1], next in line 2
    insert = greedy.top_k_change(scores, top, 4, np.array([False, True]))
    assert insert == pytest.approx([0.1 - 0.8, -0.8])  # replaces the K-th; a clicked item is worth nothing
    remove = greedy.top_k_change(scores, top, 1, np.array([False, False]))
    assert remove == pytest.approx([0.7 - 0.8, 0.7 - 0.8])  # the (K+1)-th moves in


def hand_problem() -> greedy.Problem:
    # targets u0, u1; neighbours v0 -> u0 (c = 2), v1 -> u0 and u1 (c = 1 each), v2 -> u1 (c = -1)
    return greedy.Problem(
        base_logit=np.zeros(2),
        edge_target=np.array([0, 0, 1, 1]),
        edge_neighbour=np.array([0, 1, 1, 2]),
        reward=np.array([2.0, 1.0, 1.0, -1.0]),
        base_exposed=np.zeros(3, dtype=bool),
        change=np.full(3, -0.1),
    )


def test_greedy_takes_the_best_single_flip_and_stops_when_none_gains() -> None:
    problem = hand_problem()
    gains = greedy.flip_gains(problem, problem.base_logit, 1.0)
    assert gains == pytest.approx([sig(2) - 0.5 - 0.1, 2 * (sig(1) - 0.5) - 0.1, sig(-1) - 0.5 - 0.1])
    assert int(np.argmax(gains)) == 1  # v1 reaches both targets
    # lambda 1: after v1, v0 still gains sigmoid(3) - sigmoid(1) - 0.1 > 0; v2 never gains
    assert greedy.greedy(problem, 1.0).tolist() == [True, True, False]
    # lambda 3: after v1, v0's gain sigmoid(3) - sigmoid(1) - 0.3 < 0: the search stops with v1 alone
    assert greedy.greedy(problem, 3.0).tolist() == [False, True, False]
    # each neighbour decided alone from the base flips v0 too (gain sigmoid(2) - 0.5 - 0.3 > 0)
    assert greedy.independent(problem, 3.0).tolist() == [True, True, False]
    assert greedy.greedy(problem, 100.0).tolist() == [False, False, False]


def test_vectorised_greedy_equals_the_per_flip_recomputation() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        n_targets, n_neighbours = 12, 30
        pairs = np.unique(rng.integers(0, n_targets * n_neighbours, 80))  # each (target, neighbour) edge once
        n_edges = len(pairs)
        problem = greedy.Problem(
            base_logit=rng.normal(0, 1, n_targets),
            edge_target=pairs // n_neighbours,
            edge_neighbour=pairs % n_neighbours,
            reward=rng.normal(0, 1, n_edges),
            base_exposed=rng.random(n_neighbours) < 0.2,
            change=-rng.random(n_neighbours) * 0.3,
        )
        for lam in (0.0, 0.5, 2.0):
            fast, slow = greedy.greedy(problem, lam), greedy.greedy_recomputed(problem, lam)
            assert fast.tolist() == slow.tolist()
            assert problem.objective(fast, lam) >= problem.objective(np.zeros(n_neighbours, dtype=bool), lam)


def test_budget_matched_policies_insert_at_most_the_budget() -> None:
    problem = hand_problem()
    problem = greedy.Problem(**{**problem.__dict__, "base_exposed": np.array([False, True, False])})
    chosen = greedy.budget_matched(np.array([0.1, 0.9, 0.5]), problem, 1)
    assert chosen.tolist() == [False, False, True]  # v1 is already exposed: the best unexposed one is v2
    assert greedy.budget_matched(np.array([0.1, 0.9, 0.5]), problem, 5).sum() == 2


def test_the_estimator_recovers_planted_interference_better_than_mf() -> None:
    truth, graph = world(n_users=400, n_items=120, dim=4, degree=8, beta=10.0, seed=1)
    config = SimulationConfig(sim_items=120, sim_exposures=80, sim_seed=1)
    logs = simulate.draw_logs(truth, graph, config, np.random.default_rng(1))
    estimator = EstimatorConfig(est_dim=8, est_epochs=20)
    batches = Batches.of(logs, graph)
    test = logs.part("test")
    results, models = {}, {}
    for name in ("nirec", "mf"):
        models[name], history = fit(name, logs, graph, estimator)
        results[name] = evaluate(models[name], batches, test)
        assert history[0]["valid_logloss"] > min(h["valid_logloss"] for h in history)  # it learned
    assert results["nirec"]["logloss"] < results["mf"]["logloss"] - 0.05
    assert results["nirec"]["auc"] > results["mf"]["auc"] + 0.05
    # the planted per-edge effects themselves (MF has none: its correlation is zero by construction)
    rng = np.random.default_rng(0)
    edges, items = rng.integers(0, graph.n_edges, 5000), rng.integers(0, 120, 5000)
    assert core.interference_correlation(models["nirec"], graph, truth, edges, items) > 0.5


def test_training_is_deterministic_for_a_seed() -> None:
    truth, graph = world(n_users=150, n_items=60, dim=3, degree=8, beta=10.0, seed=4)
    logs = simulate.draw_logs(truth, graph, SimulationConfig(sim_items=60, sim_exposures=40), np.random.default_rng(4))
    config = EstimatorConfig(est_dim=8, est_epochs=3, est_batch_size=256)
    (first, history), (second, again) = fit("nirec", logs, graph, config), fit("nirec", logs, graph, config)
    assert history == again
    pairs = zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    assert not torch.are_deterministic_algorithms_enabled()  # restored after training


def test_ioip_and_dtne_of_one_flip_by_hand() -> None:
    truth, graph = three_users()
    truth = Truth(truth.users, np.array([[2.0, 1.0], [1.0, 1.0], [0.5, 0.5]]), beta=10.0)
    top = np.array([[1, 2, 0], [1, 2, 0], [1, 2, 0]])  # K = 2 for everyone; item 0 is next in line
    history = np.zeros((3, 3), dtype=bool)
    item = metrics.ItemTruth.of(truth, graph, 0, np.array([0]), np.array([1, 2]), np.zeros(2, dtype=bool), top, history)
    uplift, damage = item.outcome(np.array([True, False]))
    value = item.base_value
    own = truth.individual_logit(np.array([0]), np.array([0]))[0]
    p = sig(own + 10 * sig(2.0) / math.sqrt(2) * 0.25 * (4 - 3))
    assert uplift[0] == pytest.approx((p - sig(own)) / sig(own))
    p1 = [sig(0.25 * (x - 3)) for x in (4.0, 2.0, 1.0)]  # user 1's own values of items 0, 1, 2
    assert damage == pytest.approx(p1[2] - p1[0])  # item 0 replaces user 1's K-th item (item 2)
    p2 = [sig(0.25 * (x - 3)) for x in (1.0, 1.0, 0.5)]
    assert value == pytest.approx(p1[1] + p1[2] + p2[1] + p2[2])
    # pooled over items and lambdas: IoIP the mean uplift, DtNE the damage as a percentage of the base value
    rows = metrics.curve([item], [np.array([[False, False], [True, False]])])
    assert rows[0] == {"ioip": 0.0, "dtne": 0.0, "flips": 0.0}
    assert rows[1]["ioip"] == pytest.approx(uplift[0]) and rows[1]["dtne"] == pytest.approx(100 * damage / value)


def test_completion_ratings_are_within_user_mid_ranks_on_one_to_five() -> None:
    ratings = completion.ratings_of(np.array([0, 0, 0, 1, 0]), np.array([5.0, 1.0, 5.0, 3.0, 9.0]))
    assert ratings.tolist() == pytest.approx([3.0, 1.5, 3.0, 3.0, 4.5])


def test_completion_fits_a_low_rank_matrix() -> None:
    rng = np.random.default_rng(0)
    p, q = rng.normal(0, 1, (40, 3)), rng.normal(0, 1, (30, 3))
    users, items = np.divmod(np.arange(1200), 30)
    fitted = completion.complete(users, items, (p @ q.T).ravel(), 40, 30, 3, 30, 1e-3, 0)
    assert fitted.rmse < 0.01


def test_a_friendship_naming_an_unknown_user_is_an_error_naming_the_row() -> None:
    with pytest.raises(DataError, match=r"social.parquet row 1, column 'friend_id': unknown user 7; expected"):
        from_pairs(np.array([0, 1]), np.array([1, 7]), 5)


def test_a_self_loop_is_an_error_naming_the_row() -> None:
    with pytest.raises(DataError, match=r"social.parquet row 2: self-loop \(user 3 befriends itself\)"):
        from_pairs(np.array([0, 1, 3]), np.array([1, 2, 3]), 5)


def test_no_friendship_for_any_target_is_an_error() -> None:
    truth, _ = world(n_users=20, n_items=10, dim=2, degree=2, beta=10.0, seed=0)
    lonely = from_pairs(np.array([], dtype=np.int64), np.array([], dtype=np.int64), 20)
    with pytest.raises(DataError, match="no \\(user, item\\) pair qualifies as a target"):
        simulate.choose_targets(truth, lonely, SimulationConfig(), np.random.default_rng(0))


def test_users_without_friends_never_become_targets() -> None:
    truth, graph = world(n_users=60, n_items=30, dim=3, degree=3, beta=10.0, seed=2)
    targets = simulate.choose_targets(truth, graph, SimulationConfig(sim_target_items=5, sim_group_size=4),
                                      np.random.default_rng(0))  # fmt: skip
    assert len(targets.items) == 5
    assert (graph.degree[targets.users] > 0).all()
    for g, item in enumerate(targets.items):
        for user in targets.group(g):
            assert truth.preference(np.array([user]), np.array([item]))[0] - 3 < 1
            friends = graph.neighbours(int(user))
            assert (truth.preference(friends, np.full(len(friends), item)) - 3 >= 1).any()


def test_the_simulation_is_seeded() -> None:
    truth, graph = world(n_users=50, n_items=40, dim=3, degree=4, beta=10.0, seed=0)
    config = SimulationConfig(sim_items=40, sim_exposures=10)
    first = simulate.draw_logs(truth, graph, config, np.random.default_rng(5))
    second = simulate.draw_logs(truth, graph, config, np.random.default_rng(5))
    assert np.array_equal(first.click, second.click) and np.array_equal(first.item, second.item)
    assert len(first.user) <= 50 * 10 and set(np.unique(first.split)) == {0, 1, 2}


@pytest.mark.parametrize(
    ("config", "settings", "message"),
    [
        (SimulationConfig, {"sim_uniform": 0.5}, "shares sum to 1.4; expected sim_uniform"),
        (SimulationConfig, {"sim_beta": -1.0}, "social_simulation.sim_beta: got -1.0"),
        (PolicyConfig, {"policy_lambdas": "1,0.5"}, "expected distinct numbers >= 0, ascending"),
        (PolicyConfig, {"policy_lambdas": "0,a"}, "social_policy.policy_lambdas: got '0,a'; expected comma-separated"),
        (EstimatorConfig, {"est_dim": 0}, "social_estimator.est_dim: got 0"),
    ],
)
def test_invalid_settings_are_one_line_errors(config: type, settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config(**settings)


def test_a_dataset_without_a_friendship_graph_is_one_line_and_leaves_no_output(tmp_path) -> None:
    from components.prepare_data.config import PrepareConfig
    from components.prepare_data.core import prepare

    prepare(PrepareConfig(dataset="movielens-latest-small"), tmp_path / "movielens")
    with pytest.raises(DataError, match=r"social\.parquet: file not found; expected a dataset with a friendship graph"):
        core.simulate_social(SimulationConfig(), tmp_path / "movielens", tmp_path / "simulation")
    assert not (tmp_path / "simulation").exists()


def test_a_friendship_file_with_a_self_loop_fails_the_simulation_before_any_output(tmp_path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from components.common.schemas import SOCIAL
    from components.prepare_data.config import PrepareConfig
    from components.prepare_data.core import prepare

    prepare(PrepareConfig(dataset="lastfm-hetrec-2k"), tmp_path / "lastfm")
    rows = pq.read_table(tmp_path / "lastfm" / "social.parquet").to_pylist()
    rows.insert(5, {"user_id": 9, "friend_id": 9})
    pq.write_table(pa.Table.from_pylist(rows, schema=SOCIAL), tmp_path / "lastfm" / "social.parquet")
    with pytest.raises(DataError, match=r"^social.parquet row 5: self-loop \(user 9 befriends itself\)"):
        core.simulate_social(SimulationConfig(), tmp_path / "lastfm", tmp_path / "simulation")
    assert not (tmp_path / "simulation").exists()


def test_a_pipeline_default_overrides_its_config_and_must_name_a_setting() -> None:
    from components.prepare_data.config import PrepareConfig
    from pipelines import catalog
    from pipelines.params import Parameters
    from pipelines.settings import LOCAL

    assert catalog.get("social-steering").table(LOCAL)["dataset"].default == "lastfm-hetrec-2k"
    assert catalog.get("sft-rec").table(LOCAL)["dataset"].default == PrepareConfig().dataset
    with pytest.raises(ValueError, match=r"defaults name \['datset'\], which no config of this pipeline has"):
        Parameters((PrepareConfig,), defaults={"datset": "lastfm-hetrec-2k"}).table(LOCAL)
