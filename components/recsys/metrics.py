"""Ranking metrics for one relevant item per user (next-item recommendation over a candidate set), and AUC / UAUC
for click-through style predictions (RecICL).

`ranks` holds the 1-based rank of each user's relevant item; 0 or None means it was not ranked (a miss).
HR@k = share of users whose item is in the top k; NDCG@k = mean of 1/log2(rank+1) for ranks <= k (the ideal
DCG is 1 with a single relevant item); MRR = mean of 1/rank over all users, misses counting 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _ranks(ranks: Sequence[int | None] | np.ndarray) -> np.ndarray:
    values = np.array([0 if r is None else r for r in ranks], dtype=np.float64)  # (users,)
    if values.size == 0:
        raise ValueError("ranks is empty; expected one rank per user")
    if (values < 0).any() or (values != np.floor(values)).any():
        raise ValueError("ranks must be whole numbers >= 1 (or 0/None for a miss)")
    return values


def hit_ratio_at_k(ranks: Sequence[int | None] | np.ndarray, k: int) -> float:
    r = _ranks(ranks)
    return float(((r >= 1) & (r <= k)).mean())


def ndcg_at_k(ranks: Sequence[int | None] | np.ndarray, k: int) -> float:
    r = _ranks(ranks)
    hit = (r >= 1) & (r <= k)
    gains = np.zeros_like(r)
    gains[hit] = 1.0 / np.log2(r[hit] + 1.0)
    return float(gains.mean())


def mrr(ranks: Sequence[int | None] | np.ndarray) -> float:
    r = _ranks(ranks)
    reciprocal = np.zeros_like(r)
    reciprocal[r >= 1] = 1.0 / r[r >= 1]
    return float(reciprocal.mean())


def ranks_from_scores(scores: np.ndarray, target_index: np.ndarray) -> np.ndarray:
    """1-based rank of the target in each row of `scores` (rows, candidates); ties count against the target.

    A pessimistic tie rule: a target tied with k others gets the worst of those ranks, so a constant scorer
    never looks good.
    """
    target = scores[np.arange(len(scores)), target_index][:, None]  # (rows, 1)
    return (scores > target).sum(axis=1) + (scores == target).sum(axis=1)


def ranking_metrics(ranks: Sequence[int | None] | np.ndarray) -> dict[str, float]:
    """The ranking metrics recforge logs for every model."""
    return {
        "hr_1": hit_ratio_at_k(ranks, 1),
        "hr_5": hit_ratio_at_k(ranks, 5),
        "hr_10": hit_ratio_at_k(ranks, 10),
        "ndcg_5": ndcg_at_k(ranks, 5),
        "ndcg_10": ndcg_at_k(ranks, 10),
        "mrr": mrr(ranks),
    }


def auc(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random negative (ties 1/2).

    Computed from average ranks (Mann-Whitney U). Raises ValueError without both labels.
    """
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("auc needs both positive and negative labels")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_scores = s[order]
    # average ranks for ties (1-based)
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [len(s)]])
    average = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(average, ends - starts)
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def uauc(
    user_ids: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> float:
    """Mean per-user AUC over the users who have both a positive and a negative label."""
    users = np.asarray(user_ids)
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    values = []
    for user in np.unique(users):
        rows = users == user
        if y[rows].any() and not y[rows].all():
            values.append(auc(y[rows], s[rows]))
    if not values:
        raise ValueError("uauc needs at least one user with both positive and negative labels")
    return float(np.mean(values))


def roc_curve(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, max_points: int = 101
) -> dict[str, list[float]]:
    """ROC curve points {fpr, tpr, threshold}, from (0, 0) to (1, 1), one per distinct score (predicting positive
    at score >= threshold), thinned evenly to at most `max_points` with both ends kept; the trapezoid area under
    the unthinned points equals `auc`. Raises ValueError without both labels."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        raise ValueError("roc_curve needs both positive and negative labels")
    order = np.argsort(-s, kind="mergesort")
    sorted_scores, sorted_labels = s[order], y[order]
    last_of_score = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(s) - 1]  # (distinct,)
    tp = np.cumsum(sorted_labels)[last_of_score]
    fp = np.cumsum(~sorted_labels)[last_of_score]
    fpr = np.r_[0.0, fp / negatives]
    tpr = np.r_[0.0, tp / positives]
    threshold = np.r_[np.inf, sorted_scores[last_of_score]]
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr, threshold = fpr[keep], tpr[keep], threshold[keep]
    threshold = np.where(np.isinf(threshold), sorted_scores[0] + 1.0, threshold)  # JSON has no infinity
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "threshold": threshold.tolist()}
