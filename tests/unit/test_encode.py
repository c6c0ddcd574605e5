"""Dense re-indexing and cleaning: duplicates, unknown items, rating threshold, k-core."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import write_movielens_csv

from components.common.errors import ConfigError, DataError
from components.prepare_data.config import PrepareConfig
from components.prepare_data.encode import encode, kcore_mask
from components.prepare_data.readers import read_movielens_latest

RATINGS = "userId,movieId,rating,timestamp\n" + "".join(
    f"{u},{i},{r},{t}\n"
    for u, i, r, t in [(7, 2, 4.0, 30), (7, 1, 3.0, 10), (7, 2, 5.0, 20), (3, 3, 1.0, 5), (3, 1, 4.5, 6)]
)


def _encode(tmp_path: Path, ratings: str = RATINGS, **overrides: object):
    raw = read_movielens_latest(write_movielens_csv(tmp_path / "ml", ratings))
    return encode(raw, PrepareConfig(**overrides))


def test_dense_ids_and_chronological_order(tmp_path: Path) -> None:
    enc = _encode(tmp_path)
    assert enc.users.to_pydict() == {"user_id": [0, 1], "source_id": ["3", "7"]}  # raw-id order
    assert enc.items["source_id"].to_pylist() == ["1", "2", "3"]
    rows = enc.interactions.to_pylist()
    # user 7 (dense 1) rated movie 2 twice (t=30 and t=20): the later one is kept
    assert [(r["user_id"], r["item_id"], r["rating"], r["timestamp"]) for r in rows] == [
        (0, 2, 1.0, 5),
        (0, 0, 4.5, 6),
        (1, 0, 3.0, 10),
        (1, 1, 4.0, 30),
    ]
    assert enc.counts["duplicates_removed"] == 1


def test_duplicates_first_and_error(tmp_path: Path) -> None:
    enc = _encode(tmp_path, duplicates="first")
    kept = [(r["item_id"], r["timestamp"]) for r in enc.interactions.to_pylist() if r["user_id"] == 1]
    assert kept == [(0, 10), (1, 20)]
    with pytest.raises(DataError, match=r"ratings.csv line 4: user-item pair repeats line 2; expected each pair once"):
        _encode(tmp_path / "b", duplicates="error")


def test_unknown_item_error_and_drop(tmp_path: Path) -> None:
    ratings = RATINGS + "3,99,4.0,7\n"
    with pytest.raises(DataError, match=r"ratings.csv line 7: item id 99 is not in movies.csv"):
        _encode(tmp_path, ratings)
    enc = _encode(tmp_path / "b", ratings, unknown_items="drop")
    assert enc.counts["unknown_items_dropped"] == 1
    assert enc.interactions.num_rows == 4


def test_min_rating_threshold(tmp_path: Path) -> None:
    enc = _encode(tmp_path, min_rating=4.0)
    assert enc.counts["below_min_rating"] == 2  # 3.0 and 1.0
    assert sorted(enc.interactions["rating"].to_pylist()) == [
        4.0,
        4.5,
    ]  # of the pair (4.0 at t=30, 5.0 at t=20): the later


def test_filters_that_leave_nothing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no interactions are left"):
        _encode(tmp_path, min_rating=5.5)


def test_catalogue_listing_an_item_twice(tmp_path: Path) -> None:
    movies = "movieId,title,genres\n1,A (1990),Drama\n2,B (1991),Drama\n1,A again (1990),Drama\n"
    raw = read_movielens_latest(write_movielens_csv(tmp_path / "ml", RATINGS, movies))
    with pytest.raises(DataError, match=r"movies.csv line 4: item id 1 is listed twice \(lines 2 and 4\)"):
        encode(raw, PrepareConfig())


def _kcore_reference(user: np.ndarray, item: np.ndarray, k: int) -> set[tuple[int, int]]:
    pairs = set(zip(user.tolist(), item.tolist(), strict=True))
    while True:
        users: dict[int, int] = {}
        items: dict[int, int] = {}
        for u, i in pairs:
            users[u] = users.get(u, 0) + 1
            items[i] = items.get(i, 0) + 1
        kept = {(u, i) for u, i in pairs if users[u] >= k and items[i] >= k}
        if kept == pairs:
            return kept
        pairs = kept


def test_kcore_matches_reference_on_real_data(shared_data: Path) -> None:
    raw = read_movielens_latest(shared_data / "ml-latest-small")
    enc = encode(raw, PrepareConfig())
    user = enc.interactions["user_id"].to_numpy().astype(np.int64)
    item = enc.interactions["item_id"].to_numpy().astype(np.int64)
    mask = kcore_mask(user, item, 20)
    expected = _kcore_reference(user, item, 20)
    assert set(zip(user[mask].tolist(), item[mask].tolist(), strict=True)) == expected
    assert 0 < mask.sum() < len(user)
    enc20 = encode(raw, PrepareConfig(kcore=20))
    assert enc20.interactions.num_rows == len(expected)
    assert enc20.counts["kcore_removed"] == len(user) - len(expected)


def test_data_until_ends_the_window(tmp_path: Path) -> None:
    enc = _encode(tmp_path, data_until="20")
    rows = [(r["user_id"], r["item_id"], r["timestamp"]) for r in enc.interactions.to_pylist()]
    # (7, 2) at t=30 is after the window, so its duplicate at t=20 stays; nothing later than t=20 survives
    assert rows == [(0, 2, 5), (0, 0, 6), (1, 0, 10), (1, 1, 20)]
    assert enc.counts["after_data_until"] == 1 and enc.counts["duplicates_removed"] == 0
    iso = _encode(tmp_path / "iso", data_until="1970-01-01T00:00:06Z")
    assert [r["timestamp"] for r in iso.interactions.to_pylist()] == [5, 6]
    with pytest.raises(ConfigError, match=r"^prepare_data.data_until: got 'yesterday'; expected Unix seconds or an"):
        PrepareConfig(data_until="yesterday")
    with pytest.raises(ConfigError, match=r"no interactions are left after data_until/min_rating/kcore filtering"):
        _encode(tmp_path / "none", data_until="1")


def test_a_recurring_run_ends_its_window_at_its_schedule_time() -> None:
    from components.prepare_data.config import effective_until

    assert effective_until("", "2026-11-26T03:00:00Z") == "2026-11-26T03:00:00Z"
    assert effective_until("1700000000", "2026-11-26T03:00:00Z") == "1700000000"  # given explicitly: wins
    assert effective_until("", "{{$.pipeline_job_schedule_time_utc}}") == ""  # unresolved placeholder: all data
    assert effective_until("", "") == ""  # a local run
    assert PrepareConfig(data_until="2026-11-26T03:00:00Z").until_seconds == 1795662000
