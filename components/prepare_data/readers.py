"""Readers for the raw dataset formats recforge knows, each giving the same `RawData` tables.

Formats: MovieLens latest-small (CSV), MovieLens-100K (`u.data` tab-separated, `u.item` pipe-separated
Latin-1), MovieLens-1M (`::`-separated Latin-1 `.dat`), HetRec 2011 Last.fm 2K (tab-separated UTF-8 `.dat`,
with the friendship graph) and Amazon reviews (JSON lines, 2014/2018 field names or 2023 field names).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.common.errors import DataError
from components.prepare_data.textio import Column, first_json_keys, read_delimited, read_jsonl

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip
NO_GENRES = "(no genres listed)"


@dataclass
class RawData:
    """A dataset as read, before any cleaning; source ids keep their raw type (int64 or string).

    items: item (source id), title, genres (list<string>), year (int16, null where unknown).
    interactions: user, item, rating (float64), timestamp (int64 seconds, null where the dataset has none),
    in file order. social: user, friend (or None). `first_line` and `items_first_line` are the file
    lines of row 0 of interactions and items (2 after a header line), for error messages.
    """

    items: pa.Table
    interactions: pa.Table
    items_file: Path
    interactions_file: Path
    first_line: int
    items_first_line: int
    files: list[Path]
    social: pa.Table | None = None
    social_file: Path | None = None
    notes: list[str] = field(default_factory=list)


def _genres_from_pipes(column: pa.ChunkedArray) -> pa.Array:
    split = pc.split_pattern(column.combine_chunks(), "|")
    flat = pc.list_flatten(split)
    keep = pc.and_(pc.not_equal(flat, NO_GENRES), pc.not_equal(flat, ""))
    parents = pc.list_parent_indices(split)
    counts = np.bincount(np.asarray(parents)[np.asarray(keep)], minlength=len(column))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pc.filter(flat, keep))


def _year_from_title(titles: pa.Array) -> pa.Array:
    found = pc.extract_regex(titles, r"\((?P<year>\d{4})\)\s*$")
    years = pc.struct_field(found, [0])
    return pc.cast(years, pa.int16())


def _items(ids: pa.Array, titles: pa.Array, genres: pa.Array, years: pa.Array | None = None) -> pa.Table:
    titles = pc.utf8_trim_whitespace(titles)
    if years is None:
        years = _year_from_title(titles)
    return pa.table({"item": ids, "title": titles, "genres": genres, "year": years})


def _interactions(user: pa.Array, item: pa.Array, rating: pa.Array, timestamp: pa.Array | None) -> pa.Table:
    if timestamp is None:
        timestamp = pa.nulls(len(user), pa.int64())
    return pa.table({"user": user, "item": item, "rating": pc.cast(rating, pa.float64()), "timestamp": timestamp})


def read_movielens_latest(folder: Path) -> RawData:
    ratings_path, movies_path = folder / "ratings.csv", folder / "movies.csv"
    ratings = read_delimited(
        ratings_path,
        [
            Column("userId", "int"),
            Column("movieId", "int"),
            Column("rating", "float"),
            Column("timestamp", "int"),
        ],
    )
    movies = read_delimited(
        movies_path,
        [Column("movieId", "int"), Column("title", "str"), Column("genres", "str", nullable=True)],
    )
    return RawData(
        items=_items(movies["movieId"], movies["title"], _genres_from_pipes(movies["genres"])),
        interactions=_interactions(ratings["userId"], ratings["movieId"], ratings["rating"], ratings["timestamp"]),
        items_file=movies_path,
        interactions_file=ratings_path,
        first_line=2,
        items_first_line=2,
        files=[ratings_path, movies_path],
    )


def read_movielens_100k(folder: Path) -> RawData:
    data_path, item_path = folder / "u.data", folder / "u.item"
    ratings = read_delimited(
        data_path,
        [Column("user", "int"), Column("item", "int"), Column("rating", "float"), Column("timestamp", "int")],
        delimiter="\t",
        header=False,
        names=["user", "item", "rating", "timestamp"],
    )
    flag_names = [f"g{i}" for i in range(len(ML100K_GENRES))]
    movies = read_delimited(
        item_path,
        [Column("item", "int"), Column("title", "str"), *(Column(n, "int") for n in flag_names)],
        delimiter="|",
        header=False,
        names=["item", "title", "release", "video_release", "url", *flag_names],
        encoding="latin-1",
        quoted=False,
    )
    flags = np.stack([movies[n].to_numpy() for n in flag_names], axis=1).astype(bool)  # (n_items, 19)
    genres = pa.array([[ML100K_GENRES[j] for j in np.flatnonzero(row)] for row in flags], pa.list_(pa.string()))
    return RawData(
        items=_items(movies["item"], movies["title"], genres),
        interactions=_interactions(ratings["user"], ratings["item"], ratings["rating"], ratings["timestamp"]),
        items_file=item_path,
        interactions_file=data_path,
        first_line=1,
        items_first_line=1,
        files=[data_path, item_path],
    )


def read_movielens_1m(folder: Path) -> RawData:
    ratings_path, movies_path = folder / "ratings.dat", folder / "movies.dat"
    names = ["UserID", "MovieID", "Rating", "Timestamp"]
    ratings = read_delimited(
        ratings_path,
        [
            Column("UserID", "int"),
            Column("MovieID", "int"),
            Column("Rating", "float"),
            Column("Timestamp", "int"),
        ],
        delimiter="::",
        header=False,
        names=names,
        quoted=False,
    )
    movies = read_delimited(
        movies_path,
        [Column("MovieID", "int"), Column("Title", "str"), Column("Genres", "str", nullable=True)],
        delimiter="::",
        header=False,
        names=["MovieID", "Title", "Genres"],
        encoding="latin-1",
        quoted=False,
    )
    return RawData(
        items=_items(movies["MovieID"], movies["Title"], _genres_from_pipes(movies["Genres"])),
        interactions=_interactions(ratings["UserID"], ratings["MovieID"], ratings["Rating"], ratings["Timestamp"]),
        items_file=movies_path,
        interactions_file=ratings_path,
        first_line=1,
        items_first_line=1,
        files=[ratings_path, movies_path],
    )


def read_lastfm(folder: Path) -> RawData:
    listens_path, artists_path, friends_path = (
        folder / "user_artists.dat",
        folder / "artists.dat",
        folder / "user_friends.dat",
    )
    tab = {"delimiter": "\t", "quoted": False}
    listens = read_delimited(
        listens_path, [Column("userID", "int"), Column("artistID", "int"), Column("weight", "float")], **tab
    )
    artists = read_delimited(artists_path, [Column("id", "int"), Column("name", "str")], **tab)
    friends = read_delimited(friends_path, [Column("userID", "int"), Column("friendID", "int")], **tab)
    n = len(artists)
    empty_genres = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, np.int32)), pa.array([], pa.string()))
    return RawData(
        items=_items(artists["id"], artists["name"], empty_genres, pa.nulls(n, pa.int16())),
        interactions=_interactions(listens["userID"], listens["artistID"], listens["weight"], None),
        items_file=artists_path,
        interactions_file=listens_path,
        first_line=2,
        items_first_line=2,
        files=[listens_path, artists_path, friends_path],
        social=pa.table({"user": friends["userID"], "friend": friends["friendID"]}),
        social_file=friends_path,
        notes=["no timestamps: each user's sequence follows the order of user_artists.dat"],
    )


def read_amazon(folder: Path) -> RawData:
    json_files = sorted(p for p in folder.iterdir() if p.is_file() and ".json" in p.name)
    meta = [p for p in json_files if "meta" in p.name.lower()]
    reviews = [p for p in json_files if "meta" not in p.name.lower()]
    if len(meta) != 1 or len(reviews) != 1:
        raise DataError(
            folder,
            f"found {len(reviews)} review and {len(meta)} metadata JSON-lines files; "
            "expected exactly one of each (the metadata file's name contains 'meta')",
        )
    reviews_path, meta_path = reviews[0], meta[0]
    keys = first_json_keys(reviews_path)
    if "reviewerID" in keys:  # 2014 / 2018 dumps
        user, item, rating, time, scale = "reviewerID", "asin", "overall", "unixReviewTime", 1
    else:  # 2023 dumps: millisecond timestamps, parent_asin groups variants
        user, rating, time, scale = "user_id", "rating", "timestamp", 1000
        item = "parent_asin" if "parent_asin" in keys else "asin"
    table = read_jsonl(
        reviews_path, [Column(user, "str"), Column(item, "str"), Column(rating, "float"), Column(time, "int")]
    )
    meta_keys = first_json_keys(meta_path)
    meta_item = "parent_asin" if "parent_asin" in meta_keys else "asin"
    genre_field = "categories" if "categories" in meta_keys else "category"
    items = read_jsonl(
        meta_path,
        [Column(meta_item, "str"), Column("title", "str", nullable=True)],
        list_columns=[genre_field],
    )
    titles = pc.if_else(
        pc.or_kleene(pc.is_null(items["title"]), pc.equal(pc.utf8_trim_whitespace(items["title"]), "")),
        items[meta_item],
        items["title"],
    )
    genres = pc.fill_null(items[genre_field], pa.scalar([], pa.list_(pa.string())))
    timestamps = pc.divide(table[time], scale) if scale != 1 else table[time]
    return RawData(
        items=_items(items[meta_item], titles, genres, pa.nulls(len(items), pa.int16())),
        interactions=_interactions(table[user], table[item], table[rating], timestamps),
        items_file=meta_path,
        interactions_file=reviews_path,
        first_line=1,
        items_first_line=1,
        files=[reviews_path, meta_path],
    )


READERS: dict[str, Callable[[Path], RawData]] = {
    "movielens-latest-small": read_movielens_latest,
    "movielens-100k": read_movielens_100k,
    "movielens-1m": read_movielens_1m,
    "lastfm-hetrec-2k": read_lastfm,
    "amazon-reviews": read_amazon,
}
