"""The prepare step end to end on real data: files, schemas, exact counts, determinism, atomic output."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import write_amazon, write_ml1m, write_ml100k, write_movielens_csv

from components.common.errors import DataError
from components.common.schemas import TABLES
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.prepare_data.report import render_report

FILES = {"items", "users", "interactions", "train", "valid", "test"}


def _check_tables(out: Path, names: set[str]) -> None:
    assert {p.stem for p in out.glob("*.parquet")} == names
    for name in names:
        schema = pq.read_schema(out / f"{name}.parquet")
        assert schema.equals(TABLES[name], check_metadata=False), name


def test_movielens_latest_small(tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    stats = prepare(PrepareConfig(), out)
    _check_tables(out, FILES)
    assert (stats["users"], stats["catalogue_items"], stats["interactions"]) == (610, 9742, 100836)
    assert stats["items_with_interactions"] == 9724
    assert stats["duplicates_removed"] == 0
    assert json.loads((out / "stats.json").read_text())["digest"] == stats["digest"]
    test = pq.read_table(out / "test.parquet").to_pylist()
    assert len(test) == 610
    row = test[0]
    assert len(row["candidates"]) == 20 and row["target"] in row["candidates"]
    assert row["history"] and row["target"] not in row["history"][-1:]  # the target follows its history
    items = pq.read_table(out / "items.parquet")
    assert items.num_rows == 9742 and items["item_id"].to_pylist() == list(range(9742))


def test_lastfm_with_social_graph(tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    stats = prepare(PrepareConfig(dataset="lastfm-hetrec-2k"), out)
    _check_tables(out, FILES | {"social"})
    assert (stats["users"], stats["catalogue_items"], stats["interactions"]) == (1892, 17632, 92834)
    assert stats["social"] == {"rows": 25434, "dropped": 0}
    social = pq.read_table(out / "social.parquet").to_pydict()
    pairs = set(zip(social["user_id"], social["friend_id"], strict=True))
    assert all((b, a) in pairs for a, b in pairs)  # listed in both directions, as in the source
    titles = pq.read_table(out / "items.parquet")["title"].to_pylist()
    assert "Röyksopp" in titles and "Café Del Mar" in titles


@pytest.mark.parametrize(
    ("dataset", "writer", "users", "items", "interactions"),
    [
        ("movielens-100k", write_ml100k, 3, 5, 9),
        ("movielens-1m", write_ml1m, 3, 4, 6),
        ("amazon-reviews", write_amazon, 2, 4, 5),
    ],
)
def test_other_formats(tmp_path: Path, dataset: str, writer, users: int, items: int, interactions: int) -> None:
    folder = writer(tmp_path / "raw")
    stats = prepare(PrepareConfig(dataset=dataset, data_dir=str(folder), num_negatives=1), tmp_path / "out")
    assert (stats["users"], stats["catalogue_items"], stats["interactions"]) == (users, items, interactions)
    test = pq.read_table(tmp_path / "out" / "test.parquet").to_pylist()
    assert all(len(r["candidates"]) == 2 and r["target"] in r["candidates"] for r in test)


def test_same_seed_same_output_other_seed_other_candidates(tmp_path: Path) -> None:
    a = prepare(PrepareConfig(), tmp_path / "a")
    b = prepare(PrepareConfig(), tmp_path / "b")
    c = prepare(PrepareConfig(seed=7), tmp_path / "c")
    assert a["tables"] == b["tables"]
    assert a["tables"]["test"]["sha256"] != c["tables"]["test"]["sha256"]
    assert a["tables"]["interactions"] == c["tables"]["interactions"]


def test_failure_leaves_no_partial_output_and_rerun_replaces(tmp_path: Path) -> None:
    out = tmp_path / "prepared"
    prepare(PrepareConfig(num_negatives=5), out)
    bad = write_movielens_csv(tmp_path / "bad", "userId,movieId,rating,timestamp\n1,1,4.0,10\n1,x,3.0,11\n")
    with pytest.raises(DataError, match=r"ratings.csv line 3, column 'movieId': expected an integer, got 'x'"):
        prepare(PrepareConfig(data_dir=str(bad), num_negatives=1), out)
    assert len(pq.read_table(out / "test.parquet")["candidates"][0].as_py()) == 6  # untouched by the failure
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary leftovers
    with pytest.raises(DataError):
        prepare(PrepareConfig(data_dir=str(bad), num_negatives=1), tmp_path / "never")
    assert not (tmp_path / "never").exists()
    prepare(PrepareConfig(num_negatives=3), out)
    assert len(pq.read_table(out / "test.parquet")["candidates"][0].as_py()) == 4


def test_report_mentions_counts_and_schemas(tmp_path: Path) -> None:
    prepare(PrepareConfig(), tmp_path / "p")
    text = render_report(tmp_path / "p")
    assert "| users | 610 |" in text
    assert "| catalogue items | 9,742 |" in text
    assert "| test | 610 | 0 | 2 |" in text
    assert "Forrest Gump (1994)" in text  # the most rated movie of ml-latest-small (329 ratings)
    assert "| 329 |" in text
    assert "### candidates" not in text and "| candidates | list<item: int32> |" in text
