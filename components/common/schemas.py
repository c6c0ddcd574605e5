"""The Arrow schemas of recforge's prepared data, defined once and documented field by field.

A prepared Dataset artifact is a directory holding `items.parquet`, `users.parquet`,
`interactions.parquet`, `train.parquet`, `valid.parquet`, `test.parquet`, `social.parquet` (datasets with a
friendship graph only) and `stats.json`. Ids are dense and 0-based; `history` lists are oldest first.
"""

from __future__ import annotations

import pyarrow as pa


def _field(name: str, kind: pa.DataType, doc: str, nullable: bool = False) -> pa.Field:
    return pa.field(name, kind, nullable=nullable, metadata={"doc": doc})


ITEMS = pa.schema(
    [
        _field("item_id", pa.int32(), "dense item id, 0..n_items-1, in catalogue order"),
        _field("source_id", pa.string(), "the item's id in the raw dataset"),
        _field("title", pa.string(), "display title, whitespace-trimmed"),
        _field("genres", pa.list_(pa.string()), "genre names; empty where the dataset has none"),
        _field("year", pa.int16(), "release year parsed from the title or metadata", nullable=True),
    ]
)

USERS = pa.schema(
    [
        _field("user_id", pa.int32(), "dense user id, 0..n_users-1, in raw-id order"),
        _field("source_id", pa.string(), "the user's id in the raw dataset"),
    ]
)

INTERACTIONS = pa.schema(
    [
        _field("user_id", pa.int32(), "dense user id"),
        _field("item_id", pa.int32(), "dense item id"),
        _field("rating", pa.float32(), "explicit rating, or the listening count for Last.fm"),
        _field(
            "timestamp",
            pa.int64(),
            "seconds since the epoch; null where the dataset has no time (Last.fm: file order is kept)",
            nullable=True,
        ),
    ]
)

SPLIT = pa.schema(
    [
        _field("user_id", pa.int32(), "dense user id; one row per user and split"),
        _field("history", pa.list_(pa.int32()), "item ids before the target, oldest first, never empty"),
        _field("target", pa.int32(), "the item to predict"),
        _field("rating", pa.float32(), "the user's rating of the target"),
        _field("timestamp", pa.int64(), "time of the target interaction", nullable=True),
        _field(
            "candidates",
            pa.list_(pa.int32()),
            "the target plus num_negatives items the user never interacted with, seeded shuffled order",
        ),
    ]
)

SOCIAL = pa.schema(
    [
        _field("user_id", pa.int32(), "dense user id"),
        _field("friend_id", pa.int32(), "dense user id of a friend; each friendship as listed in the source"),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "items": ITEMS,
    "users": USERS,
    "interactions": INTERACTIONS,
    "train": SPLIT,
    "valid": SPLIT,
    "test": SPLIT,
    "social": SOCIAL,
}


def describe(schema: pa.Schema) -> list[tuple[str, str, str]]:
    """(name, Arrow type, doc) for each field, for reports and the README."""
    return [(f.name, str(f.type), (f.metadata or {}).get(b"doc", b"").decode()) for f in schema]
