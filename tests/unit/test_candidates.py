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


def test_infeasible_negatives_fail_before_any_draw() -> None:
    """num_negatives=100000 once grew the step to 16 GB before noticing; now it is refused up front."""
    import time
    import tracemalloc

    user, item, n_items = _world()
    seen = seen_keys(user, item, n_items)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(DataError, match=r"all but 35 of 60 items; expected at least num_negatives=100000 .*at most 35"):
        sample_negatives(np.arange(200, dtype=np.int64), seen, n_items, 100_000, np.random.default_rng(0))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 1 << 20  # nothing of rows x num was allocated


def test_chunked_draws_keep_memory_bounded_and_rows_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    import tracemalloc

    from components.recsys import candidates

    rng = np.random.default_rng(1)
    n_users, n_items = 2000, 5000
    user = np.repeat(np.arange(n_users), 20)
    item = rng.integers(0, n_items, size=len(user))
    seen = seen_keys(user, item, n_items)
    monkeypatch.setattr(candidates, "MAX_DRAWS", 1 << 16)
    tracemalloc.start()
    out = candidates.sample_negatives(np.arange(n_users, dtype=np.int64), seen, n_items, 300, rng)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.shape == (n_users, 300)
    assert peak < out.nbytes + 40 * (1 << 16) * 8  # the output plus a few chunk-sized temporaries
    keys = np.arange(n_users)[:, None].astype(np.int64) * n_items + out
    assert not np.isin(keys, seen).any()
    assert all(len(set(row)) == 300 for row in out.tolist())


def test_users_short_of_twice_num_are_sampled_exactly() -> None:
    n_items = 30
    seen = seen_keys(np.zeros(24, np.int64), np.arange(24), n_items)  # 6 unseen: 24..29, num 4 > 6/2
    out = sample_negatives(np.zeros(50, np.int64), seen, n_items, 4, np.random.default_rng(0))
    assert out.min() >= 24 and all(len(set(row)) == 4 for row in out.tolist())
    assert len({tuple(sorted(row)) for row in out.tolist()}) > 1  # not one fixed draw
