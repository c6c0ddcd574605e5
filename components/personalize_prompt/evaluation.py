"""Scoring RPP and its baselines on the same held-out users and candidates (Mao et al., TOIS 2025): NDCG@1/5/10 per
method from each user's final order, parse-failure rates, and a paired bootstrap interval of the NDCG@10 difference
between two methods."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from components.recsys.metrics import ndcg_at_k

KS = (1, 5, 10)


def ranks(orders: np.ndarray, target_position: np.ndarray) -> np.ndarray:
    """(users,) 1-based rank of the held-out item in each order (users, 10)."""
    return np.argmax(orders == target_position[:, None], axis=1) + 1


def method_metrics(orders: np.ndarray, target_position: np.ndarray, failed: np.ndarray) -> dict[str, float]:
    found = ranks(orders, target_position)
    out = {f"ndcg_{k}": ndcg_at_k(found, k) for k in KS}
    out["parse_failure_rate"] = float(np.mean(failed))
    return out


def per_user_ndcg(orders: np.ndarray, target_position: np.ndarray, k: int = 10) -> np.ndarray:
    found = ranks(orders, target_position)
    return np.where(found <= k, 1.0 / np.log2(found + 1.0), 0.0)


def random_order_ndcg(k: int = 10, n: int = 10) -> float:
    """Expected NDCG@k of the held-out item under a uniformly random order of n candidates."""
    return float(np.mean([1.0 / np.log2(r + 1.0) if r <= k else 0.0 for r in range(1, n + 1)]))


def paired_interval(a: np.ndarray, b: np.ndarray, seed: int, resamples: int = 2000) -> dict[str, float]:
    """Mean of a - b over users and its 95% percentile-bootstrap interval (users resampled with replacement)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)  # (users,)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)  # (resamples,)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": float(diff.mean()), "low": float(low), "high": float(high)}


def best_method(scores: Mapping[str, float]) -> str:
    """The method with the highest score (the first on ties)."""
    return max(scores, key=lambda name: scores[name])
