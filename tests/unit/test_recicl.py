"""RecICL: the in-context sample builder on real MovieLens data, time windows, AUC/UAUC, training, bad input."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from components.common.errors import ConfigError, DataError
from components.common.prepared import Prepared
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.recsys.icl_config import ICLConfig, effective_as_of, parse_as_of
from components.recsys.metrics import auc, uauc
from components.recsys.recicl import (
    UserTimeline,
    build_samples,
    same_second_starts,
    time_boundaries,
    window_queries,
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    out = tmp_path_factory.mktemp("ml") / "prepared"
    prepare(PrepareConfig(), out)
    return Prepared(out)


@pytest.fixture(scope="module")
def timeline(data: Prepared) -> UserTimeline:
    return UserTimeline.load(data, 4.0)


def test_samples_group_k_examples_in_time_order_without_leakage(data: Prepared, timeline: UserTimeline) -> None:
    rng = np.random.default_rng(0)
    queries = np.sort(rng.choice(len(timeline.user), 200, replace=False))
    samples = build_samples(timeline, data.titles, queries, demos=4, history_len=10)
    assert len(samples.prompts) + samples.left_out == 200
    for prompt, query, label in zip(samples.prompts, samples.queries, samples.labels, strict=True):
        examples = re.findall(r"#Example (\d+):", prompt)
        assert examples == ["1", "2", "3", "4", "5"]
        answers = re.findall(r"#Answer:(Yes|No)?", prompt)
        assert answers[-1] == "" and all(a in ("Yes", "No") for a in answers[:-1])  # the query is unanswered
        demos = np.arange(timeline.first_same[query] - 4, timeline.first_same[query])
        assert np.all(timeline.user[demos] == timeline.user[query])  # same user
        assert np.all(timeline.timestamp[demos] < timeline.timestamp[query])  # strictly before, to the second
        assert np.all(np.diff(timeline.timestamp[np.append(demos, query)]) >= 0)  # in time order
        assert [a == "Yes" for a in answers[:-1]] == timeline.liked[demos].tolist()  # labels from ratings
        assert label == int(timeline.liked[query])
        titles = re.findall(r'titled "(.*?)"\? Answer', prompt)
        assert titles[-1] == data.titles[timeline.item[query]]
        # the query's own item appears nowhere before it unless the user met it earlier
        history = timeline.liked_before(query, 10)
        start = timeline.starts[timeline.user[query]]
        assert set(history) <= set(timeline.item[start : timeline.first_same[query]])


def test_interactions_in_the_query_second_are_neither_demonstrations_nor_history() -> None:
    # one user, seconds 1, 2, 2, 2, 3 (file order); every interaction liked
    timeline = UserTimeline(
        user=np.zeros(5, dtype=np.int64),
        item=np.arange(5, dtype=np.int64),
        timestamp=np.array([1, 2, 2, 2, 3]),
        liked=np.ones(5, dtype=bool),
        starts=np.array([0]),
        first_same=same_second_starts(np.zeros(5, dtype=np.int64), np.array([1, 2, 2, 2, 3])),
    )
    assert timeline.first_same.tolist() == [0, 1, 1, 1, 4]
    assert timeline.earlier.tolist() == [0, 1, 1, 1, 4]
    assert timeline.liked_before(3, 10).tolist() == [0]  # not items 1 and 2, rated in the same second
    assert timeline.liked_before(4, 10).tolist() == [0, 1, 2, 3]
    titles = [f"T{i}" for i in range(5)]
    samples = build_samples(timeline, titles, np.array([2, 3, 4]), demos=2, history_len=10)
    assert samples.queries.tolist() == [4] and samples.left_out == 2  # 2 and 3 have one earlier interaction
    assert re.findall(r'titled "(T\d)"', samples.prompts[0]) == ["T2", "T3", "T4"]  # demos from seconds < 3
    # two users: a new user starts a new group even at the same second
    assert same_second_starts(np.array([0, 0, 1, 1]), np.array([5, 5, 5, 6])).tolist() == [0, 0, 2, 3]


def test_real_movielens_has_same_second_ties(timeline: UserTimeline) -> None:
    ties = (timeline.first_same != np.arange(len(timeline.user))).mean()
    assert 0.10 < ties < 0.25  # the share the strict rule exists for


def test_liked_history_is_the_ten_most_recent_likes(timeline: UserTimeline) -> None:
    user0 = np.flatnonzero(timeline.user == 0)
    query = user0[60]
    earlier = user0[: timeline.earlier[query]]
    expected = timeline.item[earlier[timeline.liked[earlier]]][-10:]
    assert timeline.liked_before(query, 10).tolist() == expected.tolist()


def test_time_windows_and_queries(timeline: UserTimeline) -> None:
    bounds = time_boundaries(timeline.timestamp, 0.6, 4)
    assert len(bounds) == 6 and np.all(np.diff(bounds) > 0)
    share = (timeline.timestamp < bounds[1]).mean()
    assert 0.55 < share < 0.65
    for window in range(1, 5):
        q = window_queries(timeline, bounds, window, 50, seed=1)
        assert len(q) == 50 and np.all(
            (timeline.timestamp[q] >= bounds[window]) & (timeline.timestamp[q] < bounds[window + 1])
        )
    cut = time_boundaries(timeline.timestamp, 0.6, 4, as_of=int(bounds[3]))
    assert cut[-1] <= bounds[3] + 1 and cut[1] < bounds[1]  # data after as_of is gone, windows shift earlier


def test_k_larger_than_the_history_leaves_queries_out(data: Prepared, timeline: UserTimeline) -> None:
    first_of_user = timeline.starts[:5]  # each user's first interaction has no earlier one
    samples = build_samples(timeline, data.titles, first_of_user, demos=4, history_len=10)
    assert samples.prompts == [] and samples.left_out == 5
    zero = build_samples(timeline, data.titles, first_of_user, demos=0, history_len=10)
    assert len(zero.prompts) == 5 and "(none yet)" in zero.prompts[0] and "#Example 2" not in zero.prompts[0]
    with pytest.raises(ConfigError, match=r"^icl.icl_demos: got -1; expected >= 0$"):
        build_samples(timeline, data.titles, first_of_user, demos=-1, history_len=10)


def test_auc_and_uauc_match_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    users = rng.integers(0, 30, 600)
    labels = rng.integers(0, 2, 600)
    scores = np.round(rng.normal(labels * 0.5, 1.0), 1)  # ties included
    assert auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    expected = np.mean(
        [
            roc_auc_score(labels[users == u], scores[users == u])
            for u in np.unique(users)
            if 0 < labels[users == u].sum() < (users == u).sum()
        ]
    )
    assert uauc(users, labels, scores) == pytest.approx(expected)
    with pytest.raises(ValueError, match="both positive and negative"):
        auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="at least one user"):
        uauc([1, 2], [1, 0], [0.5, 0.5])


def test_as_of_parsing_and_schedule_time() -> None:
    assert parse_as_of("") == 0 and parse_as_of("964982703") == 964982703
    assert parse_as_of("2018-09-24T14:27:30Z") == 1537799250
    with pytest.raises(ConfigError, match=r"^icl.as_of: got 'yesterday'; expected Unix seconds or an ISO-8601 time$"):
        ICLConfig(as_of="yesterday")
    assert effective_as_of(ICLConfig(), "2018-09-24T14:27:30Z").as_of == "1537799250"
    assert effective_as_of(ICLConfig(), "{{$.pipeline_job_schedule_time_utc}}").as_of == ""
    assert effective_as_of(ICLConfig(), "1970-01-01T00:00:00Z").as_of == ""  # a one-off run, not a schedule
    assert effective_as_of(ICLConfig(as_of="100"), "2018-09-24T14:27:30Z").as_of == "100"


def test_dataset_without_timestamps_is_refused(tmp_path: Path) -> None:
    prepare(PrepareConfig(dataset="lastfm-hetrec-2k"), tmp_path / "lastfm")
    with pytest.raises(ConfigError, match="lastfm-hetrec-2k has no timestamps"):
        UserTimeline.load(Prepared(tmp_path / "lastfm"), 4.0)


def test_training_window_without_both_labels(data: Prepared, tmp_path: Path) -> None:
    from components.train_sft.config import SFTConfig
    from components.train_sft.icl_core import train_icl

    with pytest.raises(DataError, match="expected both liked and not-liked examples"):
        train_icl(SFTConfig(), ICLConfig(icl_like_threshold=0.0, icl_max_examples=50), data.path, tmp_path / "out")


def test_windows_without_both_labels_are_skipped_with_a_reason(data: Prepared, tmp_path: Path) -> None:
    import json

    from components.evaluate.realtime import evaluate_realtime

    for name in ("recicl", "sft"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.json").write_text(json.dumps({"kind": "icl", "demos": 4, "history_len": 10}))
    config = ICLConfig(icl_like_threshold=5.5, icl_windows=2)  # MovieLens ratings stop at 5: nothing is liked
    summary = evaluate_realtime(data.path, config, tmp_path / "recicl", tmp_path / "sft", None, tmp_path / "out")
    assert summary["results"] == {}
    assert [note.split(":")[0] for note in summary["skipped"]] == ["window 1", "window 2"]
    assert all("no positives" in note and "AUC undefined, skipped" in note for note in summary["skipped"])
    assert "- window 2: no positives" in (tmp_path / "out" / "report.md").read_text()


def test_yes_logit_bce_by_hand() -> None:
    import math

    import torch

    from components.train_sft.yes_no import yes_logit_bce

    yes, no = 2, 4
    hidden = torch.tensor(
        [[[0.1, 0.2], [0.3, -0.1], [1.0, 2.0], [0.5, 0.5]], [[0.0, 1.0], [-1.0, 0.5], [0.2, 0.2], [9.0, 9.0]]]
    )  # (B=2, T=4, H=2)
    labels = torch.tensor([[-100, -100, -100, yes], [-100, -100, no, -100]])  # completions start at 3 and 2
    head = torch.nn.Linear(2, 5, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.5, -1.0], [0.0, 0.0], [3.0, 3.0]]))
    loss, logits, label = yes_logit_bce(hidden, labels, head, yes)
    # the answer positions are the last prompt positions, 2 and 1: Yes logits 0.5*1 - 1*2 and 0.5*(-1) - 1*0.5
    z = [0.5 * 1.0 - 2.0, 0.5 * -1.0 - 0.5]
    assert logits.tolist() == pytest.approx(z) and label.tolist() == [1.0, 0.0]
    by_hand = (math.log(1 + math.exp(-z[0])) + math.log(1 + math.exp(z[1]))) / 2
    assert float(loss) == pytest.approx(by_hand, rel=1e-6)
