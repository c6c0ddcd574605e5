"""Candidate sets: the target plus unseen, distinct, seeded negatives."""

from __future__ import annotations

import numpy as np
import pytest

from components.common.errors import DataError
from components.recsys.candidates import candidate_sets, sample_negatives, seen_keys


def _world(seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    rng = np.random.default_rng(seed)
    n_users, n_items = 200, 60
    user = np.repeat(np.arange(n_users), 25)
    item = np.concatenate([rng.choice(n_items, 25, replace=False) for _ in range(n_users)])
    return user, item, n_items


def test_negatives_are_unseen_distinct_and_seeded() -> None:
    user, item, n_items = _world()
    seen = seen_keys(user, item, n_items)
    rows = np.arange(200)
    targets = item[rows * 25 + 24]
    cands = candidate_sets(targets, rows, seen, n_items, 19, seed=7, stream=0)
    assert cands.shape == (200, 20)
    for r in rows:
        owned = set(item[user == r].tolist())
        row = cands[r].tolist()
        assert len(set(row)) == 20  # no duplicates
        assert row.count(int(targets[r])) == 1
        assert not (set(row) - {int(targets[r])}) & owned  # negatives never seen by the user
    again = candidate_sets(targets, rows, seen, n_items, 19, seed=7, stream=0)
    other = candidate_sets(targets, rows, seen, n_items, 19, seed=8, stream=0)
    assert np.array_equal(cands, again)
    assert not np.array_equal(cands, other)
    # the target lands at every position, not always first
    positions = np.argmax(cands == targets[:, None], axis=1)
    assert len(set(positions.tolist())) > 10


def test_negatives_uniform_over_unseen_items() -> None:
    seen = seen_keys(np.array([0, 0]), np.array([0, 1]), 10)
    rng = np.random.default_rng(3)
    draws = sample_negatives(np.zeros(4000, np.int64), seen, 10, 3, rng)
    counts = np.bincount(draws.ravel(), minlength=10)
    assert counts[0] == counts[1] == 0
    expected = 4000 * 3 / 8
    assert np.all(np.abs(counts[2:] - expected) < 0.06 * expected)


def test_users_who_saw_almost_everything_use_the_exact_fallback() -> None:
    n_items = 30
    user = np.zeros(27, np.int64)
    item = np.arange(27)  # 3 unseen items: 27, 28, 29
    seen = seen_keys(user, item, n_items)
    out = sample_negatives(np.zeros(5, np.int64), seen, n_items, 3, np.random.default_rng(0))
    assert all(sorted(row) == [27, 28, 29] for row in out.tolist())
    with pytest.raises(DataError, match="interacted with all but 3 of 30 items; expected at least num_negatives=4"):
        sample_negatives(np.zeros(1, np.int64), seen, n_items, 4, np.random.default_rng(0))
