"""Ranking metrics against hand-computed values and against pytrec_eval (an independent implementation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytrec_eval

from components.recsys.metrics import hit_ratio_at_k, mrr, ndcg_at_k, ranking_metrics, ranks_from_scores


def test_hand_computed() -> None:
    ranks = [1, 3, 0, 12, None]
    assert hit_ratio_at_k(ranks, 1) == pytest.approx(1 / 5)
    assert hit_ratio_at_k(ranks, 5) == pytest.approx(2 / 5)
    assert hit_ratio_at_k(ranks, 20) == pytest.approx(3 / 5)
    assert ndcg_at_k(ranks, 5) == pytest.approx((1 + 1 / math.log2(4)) / 5)
    assert ndcg_at_k(ranks, 10) == pytest.approx((1 + 0.5) / 5)
    assert mrr(ranks) == pytest.approx((1 + 1 / 3 + 1 / 12) / 5)
    assert ranking_metrics([2])["ndcg_10"] == pytest.approx(1 / math.log2(3))


def test_bad_ranks() -> None:
    with pytest.raises(ValueError, match="ranks is empty"):
        mrr([])
    with pytest.raises(ValueError, match="whole numbers >= 1"):
        hit_ratio_at_k([1.5], 1)
    with pytest.raises(ValueError, match="whole numbers >= 1"):
        ndcg_at_k([-1], 5)


def test_ties_count_against_the_target() -> None:
    scores = np.array([[0.5, 0.5, 0.5], [0.1, 0.9, 0.3], [1.0, 0.0, 0.0]])
    assert ranks_from_scores(scores, np.array([0, 2, 0])).tolist() == [3, 2, 1]


def test_against_pytrec_eval_on_random_rankings() -> None:
    rng = np.random.default_rng(0)
    users, candidates = 300, 20
    scores = rng.random((users, candidates))
    target = rng.integers(0, candidates, users)
    ranks = ranks_from_scores(scores, target)
    qrels = {f"u{u}": {f"d{target[u]}": 1} for u in range(users)}
    run = {f"u{u}": {f"d{c}": float(scores[u, c]) for c in range(candidates)} for u in range(users)}
    measures = {"recip_rank", "ndcg_cut.5,10", "success.1,5,10"}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, measures)
    per_user = evaluator.evaluate(run)

    def mean(key: str) -> float:
        return float(np.mean([v[key] for v in per_user.values()]))

    ours = ranking_metrics(ranks)
    assert ours["mrr"] == pytest.approx(mean("recip_rank"))
    assert ours["ndcg_5"] == pytest.approx(mean("ndcg_cut_5"))
    assert ours["ndcg_10"] == pytest.approx(mean("ndcg_cut_10"))
    for k in (1, 5, 10):
        assert ours[f"hr_{k}"] == pytest.approx(mean(f"success_{k}"))
    # random ranking over 20 candidates: HR@10 about 0.5
    assert abs(ours["hr_10"] - 0.5) < 0.07
