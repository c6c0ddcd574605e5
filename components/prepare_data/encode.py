"""Cleaning and dense re-indexing: raw ids -> dense ids, unknown items, rating threshold, duplicates, k-core.

Everything is vectorised over Arrow/NumPy arrays; string ids (Amazon) and integer ids (MovieLens,
Last.fm) take the same path. Users are numbered in raw-id order, items in catalogue (raw-id) order, and
interactions come out sorted by user, then time, then file order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from components.common.errors import ConfigError, DataError
from components.common.schemas import INTERACTIONS, ITEMS, SOCIAL, USERS
from components.prepare_data.config import PrepareConfig
from components.prepare_data.readers import RawData

log = logging.getLogger(__name__)


@dataclass
class Encoded:
    """Dense tables (schemas in `components.common.schemas`) and what cleaning removed."""

    items: pa.Table
    users: pa.Table
    interactions: pa.Table
    social: pa.Table | None
    counts: dict[str, int] = field(default_factory=dict)


def _sorted_unique(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    unique = pc.unique(values)
    return pc.take(unique, pc.sort_indices(unique))


def _catalogue(raw: RawData) -> tuple[pa.Table, pa.Array]:
    """Items sorted by source id; rejects an id listed twice. Returns (items table, sorted source ids)."""
    ids = raw.items["item"]
    if pc.count_distinct(ids).as_py() != len(ids):
        counts = pc.value_counts(ids)
        repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))[0]
        rows = np.flatnonzero(pc.equal(ids, repeated).to_numpy(zero_copy_only=False))
        header = raw.items_first_line
        raise DataError(
            raw.items_file,
            f"item id {repeated.as_py()!r} is listed twice (lines {rows[0] + header} and {rows[1] + header}); "
            "expected each catalogue item once",
            line=int(rows[1]) + header,
        )
    order = pc.sort_indices(ids)
    sorted_items = raw.items.take(order)
    table = pa.table(
        {
            "item_id": pa.array(np.arange(len(sorted_items), dtype=np.int32)),
            "source_id": pc.cast(sorted_items["item"], pa.string()),
            "title": sorted_items["title"],
            "genres": sorted_items["genres"],
            "year": sorted_items["year"],
        }
    )
    return table.cast(ITEMS), sorted_items["item"].combine_chunks()


def encode(raw: RawData, config: PrepareConfig) -> Encoded:
    """Map raw ids to dense ids and apply the cleaning options of `config`."""
    items, item_ids = _catalogue(raw)
    inter = raw.interactions
    counts = {"raw_interactions": inter.num_rows}
    if inter.num_rows == 0:
        raise DataError(raw.interactions_file, "no interactions; expected at least one row")

    item_code = pc.index_in(pc.cast(inter["item"], item_ids.type), value_set=item_ids)
    unknown = pc.is_null(item_code)
    n_unknown = pc.sum(unknown).as_py() or 0
    if n_unknown and config.unknown_items == "error":
        row = int(np.flatnonzero(unknown.to_numpy(zero_copy_only=False))[0])
        raise DataError(
            raw.interactions_file,
            f"item id {inter['item'][row].as_py()!r} is not in {raw.items_file.name}; "
            "expected ids of catalogue items (or set unknown_items=drop)",
            line=row + raw.first_line,
        )
    counts["unknown_items_dropped"] = n_unknown

    user_ids = _sorted_unique(inter["user"])
    user = pc.index_in(inter["user"], value_set=user_ids).to_numpy(zero_copy_only=False).astype(np.int64)
    item = item_code.to_numpy(zero_copy_only=False)
    rating = inter["rating"].to_numpy(zero_copy_only=False).astype(np.float32)
    ts_null = pc.is_null(inter["timestamp"]).to_numpy(zero_copy_only=False)
    has_time = not bool(ts_null.all())
    timestamp = pc.fill_null(inter["timestamp"], 0).to_numpy(zero_copy_only=False).astype(np.int64)
    row = np.arange(inter.num_rows, dtype=np.int64)

    keep = ~unknown.to_numpy(zero_copy_only=False)
    item = np.where(keep, item, 0).astype(np.int64)

    below = keep & (rating < config.min_rating)
    counts["below_min_rating"] = int(below.sum())
    keep &= ~below

    until = config.until_seconds
    later = keep & (timestamp > until) & ~ts_null if until else np.zeros_like(keep)
    if until and not has_time:
        log.warning("data_until=%s ignored: %s has no timestamps", config.data_until, raw.interactions_file.name)
    counts["after_data_until"] = int(later.sum())
    keep &= ~later

    user, item, rating, timestamp, row = (a[keep] for a in (user, item, rating, timestamp, row))
    user, item, rating, timestamp, row, n_dup = _dedupe(user, item, rating, timestamp, row, raw, config)
    counts["duplicates_removed"] = n_dup

    before_kcore = len(user)
    if config.kcore > 0:
        mask = kcore_mask(user, item, config.kcore)
        user, item, rating, timestamp, row = (a[mask] for a in (user, item, rating, timestamp, row))
    counts["kcore_removed"] = before_kcore - len(user)
    if len(user) == 0:
        raise ConfigError(
            "prepare_data",
            "no interactions are left after data_until/min_rating/kcore filtering; expected at least one",
        )

    # Renumber users densely over those that remain, in raw-id order.
    present = np.bincount(user, minlength=len(user_ids)) > 0
    kept_users = np.flatnonzero(present)
    user = (np.cumsum(present) - 1)[user]
    users = pa.table(
        {
            "user_id": pa.array(np.arange(len(kept_users), dtype=np.int32)),
            "source_id": pc.cast(pc.take(user_ids, pa.array(kept_users)), pa.string()),
        }
    ).cast(USERS)

    order = np.lexsort((row, timestamp, user))  # by user, then time, then file order
    interactions = pa.table(
        {
            "user_id": pa.array(user[order].astype(np.int32)),
            "item_id": pa.array(item[order].astype(np.int32)),
            "rating": pa.array(rating[order]),
            "timestamp": pa.array(timestamp[order], mask=np.full(len(order), not has_time)),
        }
    ).cast(INTERACTIONS)

    social = None
    if raw.social is not None:
        social, counts["social_dropped"] = _social(raw.social, user_ids, kept_users)
    log.info(
        "encoded %d users, %d catalogue items, %d interactions (%s)",
        users.num_rows,
        items.num_rows,
        interactions.num_rows,
        ", ".join(f"{k}={v}" for k, v in counts.items()),
    )
    return Encoded(items=items, users=users, interactions=interactions, social=social, counts=counts)


def _dedupe(
    user: np.ndarray,
    item: np.ndarray,
    rating: np.ndarray,
    timestamp: np.ndarray,
    row: np.ndarray,
    raw: RawData,
    config: PrepareConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Resolve repeated (user, item) pairs: keep the latest (or first) by time then file order, or fail."""
    order = np.lexsort((row, timestamp, item, user))
    u, i = user[order], item[order]
    same_as_next = (u[:-1] == u[1:]) & (i[:-1] == i[1:])
    n_dup = int(same_as_next.sum())
    if n_dup == 0:
        return user, item, rating, timestamp, row, 0
    if config.duplicates == "error":
        k = int(np.flatnonzero(same_as_next)[0])
        first, second = sorted((int(row[order[k]]), int(row[order[k + 1]])))
        raise DataError(
            raw.interactions_file,
            f"user-item pair repeats line {first + raw.first_line}; "
            "expected each pair once (or set duplicates=last or first)",
            line=second + raw.first_line,
        )
    if config.duplicates == "last":
        keep_sorted = np.append(~same_as_next, True)
    else:
        keep_sorted = np.insert(~same_as_next, 0, True)
    kept = np.sort(order[keep_sorted])  # back to file order
    log.warning("%d duplicate user-item interactions resolved (kept the %s)", n_dup, config.duplicates)
    return user[kept], item[kept], rating[kept], timestamp[kept], row[kept], n_dup


def kcore_mask(user: np.ndarray, item: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of interactions in the k-core: every kept user and item has >= k kept interactions."""
    keep = np.ones(len(user), dtype=bool)
    while True:
        user_count = np.bincount(user[keep], minlength=user.max() + 1 if len(user) else 0)
        item_count = np.bincount(item[keep], minlength=item.max() + 1 if len(item) else 0)
        new_keep = keep & (user_count[user] >= k) & (item_count[item] >= k)
        if new_keep.sum() == keep.sum():
            return new_keep
        keep = new_keep


def _social(social: pa.Table, user_ids: pa.Array, kept_users: np.ndarray) -> tuple[pa.Table, int]:
    """Friendship rows in dense ids; rows naming a user without interactions are dropped and counted."""
    remap = np.full(len(user_ids), -1, dtype=np.int64)
    remap[kept_users] = np.arange(len(kept_users))
    cast = user_ids.type

    def dense(column: pa.ChunkedArray) -> np.ndarray:
        code = pc.index_in(pc.cast(column, cast), value_set=user_ids)
        code_np = pc.fill_null(code, -1).to_numpy(zero_copy_only=False)
        return np.where(code_np >= 0, remap[np.maximum(code_np, 0)], -1)

    a, b = dense(social["user"]), dense(social["friend"])
    ok = (a >= 0) & (b >= 0)
    table = pa.table({"user_id": pa.array(a[ok].astype(np.int32)), "friend_id": pa.array(b[ok].astype(np.int32))}).cast(
        SOCIAL
    )
    return table, int((~ok).sum())
