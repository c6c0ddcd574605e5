"""Readers against the shared real data (exact counts) and against fixtures in the other formats."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
from conftest import write_amazon, write_ml1m, write_ml100k

from components.prepare_data.readers import (
    read_amazon,
    read_lastfm,
    read_movielens_1m,
    read_movielens_100k,
    read_movielens_latest,
)


def test_movielens_latest_small_counts(shared_data: Path) -> None:
    raw = read_movielens_latest(shared_data / "ml-latest-small")
    assert raw.items.num_rows == 9742
    assert raw.interactions.num_rows == 100836
    assert pc.count_distinct(raw.interactions["user"]).as_py() == 610
    assert pc.count_distinct(raw.interactions["item"]).as_py() == 9724
    ratings = raw.interactions["rating"]
    assert pc.min(ratings).as_py() == 0.5 and pc.max(ratings).as_py() == 5.0
    assert set((ratings.to_numpy() * 2) % 1) == {0.0}  # half stars
    assert raw.items["year"].null_count == 13  # titles without a year
    first = raw.items.slice(0, 1).to_pylist()[0]
    assert first == {
        "item": 1,
        "title": "Toy Story (1995)",
        "genres": ["Adventure", "Animation", "Children", "Comedy", "Fantasy"],
        "year": 1995,
    }
    no_genre = next(r for r in raw.items.to_pylist() if r["title"] == "Hyena Road")
    assert no_genre["genres"] == [] and no_genre["year"] is None


def test_lastfm_counts_and_non_ascii(shared_data: Path) -> None:
    raw = read_lastfm(shared_data / "hetrec2011-lastfm-2k")
    assert raw.items.num_rows == 17632
    assert raw.interactions.num_rows == 92834
    assert pc.count_distinct(raw.interactions["user"]).as_py() == 1892
    assert raw.social is not None and raw.social.num_rows == 25434
    titles = set(raw.items["title"].to_pylist())
    assert {"Röyksopp", "Café Del Mar", "MALICE MIZER"} <= titles
    assert raw.interactions["timestamp"].null_count == 92834  # no time in this dataset
    assert raw.interactions.slice(0, 1).to_pylist()[0]["rating"] == 13883.0


def test_ml100k_fixture(tmp_path: Path) -> None:
    raw = read_movielens_100k(write_ml100k(tmp_path / "ml-100k"))
    assert raw.interactions.num_rows == 9
    items = {r["item"]: r for r in raw.items.to_pylist()}
    assert items[3]["title"] == "Café au lait (Métisse) (1993)"  # decoded from Latin-1
    assert items[3]["year"] == 1993
    assert items[1]["genres"] == ["Animation", "Children's", "Comedy"]
    assert items[2]["genres"] == ["Action", "Adventure", "Thriller"]
    assert items[4]["genres"] == [] and items[4]["year"] is None
    assert raw.interactions.slice(3, 1).to_pylist()[0] == {"user": 1, "item": 4, "rating": 2.0, "timestamp": 400}


def test_ml1m_fixture(tmp_path: Path) -> None:
    raw = read_movielens_1m(write_ml1m(tmp_path / "ml-1m"))
    assert raw.interactions.num_rows == 6
    items = {r["item"]: r for r in raw.items.to_pylist()}
    assert items[20]["title"] == "Misérables, Les (1995)"
    assert items[20]["genres"] == ["Drama", "Musical"]
    assert items[40]["year"] == 2000
    assert raw.interactions.slice(0, 1).to_pylist()[0] == {"user": 1, "item": 10, "rating": 5.0, "timestamp": 978300760}


def test_amazon_2018_fixture(tmp_path: Path) -> None:
    raw = read_amazon(write_amazon(tmp_path / "amazon", 2018))
    assert raw.interactions.num_rows == 5
    assert raw.interactions.slice(0, 1).to_pylist()[0] == {
        "user": "A1",
        "item": "B01",
        "rating": 5.0,
        "timestamp": 1500000000,
    }
    items = {r["item"]: r for r in raw.items.to_pylist()}
    assert items["B03"]["title"] == "Crème Brûlée Torch"
    assert items["B01"]["genres"] == ["Home", "Kitchen"]
    assert items["B04"]["title"] == "B04"  # no title in the metadata: the id stands in


def test_amazon_2023_fixture_uses_parent_asin_and_seconds(tmp_path: Path) -> None:
    raw = read_amazon(write_amazon(tmp_path / "amazon", 2023))
    first = raw.interactions.slice(0, 1).to_pylist()[0]
    assert first == {"user": "A1", "item": "B01", "rating": 5.0, "timestamp": 1500000000}
    assert raw.items.num_rows == 4
