"""The prepare step: resolve a raw dataset, clean and re-index it, split it, draw candidates, write Parquet.

`prepare(config, out_dir)` writes the Dataset artifact directory atomically (`items`, `users`,
`interactions`, `train`, `valid`, `test` and, with a friendship graph, `social` Parquet tables, plus
`stats.json`) and returns the statistics. Splits and candidates follow the leave-one-out and global
time-split protocols of sequential recommendation (e.g. SASRec, Kang & McAuley 2018; LLaRA, Liao et al. 2024).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from components.common.atomic import atomic_dir
from components.common.digests import digest_files, sha256_file
from components.common.errors import DataError
from components.common.schemas import SPLIT, TABLES
from components.prepare_data.config import PrepareConfig
from components.prepare_data.encode import Encoded, encode
from components.prepare_data.readers import READERS
from components.prepare_data.sources import resolve_source
from components.prepare_data.splits import SPLIT_NAMES, Sequences, histories, split_rows, time_cutoff
from components.prepare_data.values import check_values
from components.recsys.candidates import candidate_sets, seen_keys

log = logging.getLogger(__name__)


def build_splits(encoded: Encoded, config: PrepareConfig) -> tuple[dict[str, pa.Table], dict[str, Any]]:
    """The train/valid/test tables (schema SPLIT) and their statistics."""
    inter = encoded.interactions
    has_time = inter["timestamp"].null_count == 0
    seq = Sequences.from_sorted(
        inter["user_id"].to_numpy(),
        inter["item_id"].to_numpy(),
        inter["rating"].to_numpy(),
        inter["timestamp"].to_numpy() if has_time else None,
        encoded.users.num_rows,
    )
    cutoff = None
    if config.split == "time":
        cutoff = time_cutoff(seq.timestamp, config.time_cutoff, config.time_fraction, config.dataset)
    rows = split_rows(seq, config.split, cutoff)
    n_items = encoded.items.num_rows
    seen = seen_keys(seq.user, seq.item, n_items)
    tables, stats = {}, {}
    for stream, name in enumerate(SPLIT_NAMES):
        part = rows[name]
        offsets, values = histories(seq, part.users, part.targets)
        targets = seq.item[part.targets]
        candidates = candidate_sets(targets, part.users, seen, n_items, config.num_negatives, config.seed, stream)
        width = config.num_negatives + 1
        tables[name] = pa.table(
            {
                "user_id": pa.array(part.users.astype(np.int32)),
                "history": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values)),
                "target": pa.array(targets.astype(np.int32)),
                "rating": pa.array(seq.rating[part.targets].astype(np.float32)),
                "timestamp": pa.array(
                    seq.timestamp[part.targets] if seq.timestamp is not None else np.zeros(len(targets), np.int64),
                    mask=None if seq.timestamp is not None else np.ones(len(targets), bool),
                ),
                "candidates": pa.ListArray.from_arrays(
                    pa.array(np.arange(len(targets) + 1, dtype=np.int32) * width),
                    pa.array(candidates.ravel()),
                ),
            }
        ).cast(SPLIT)
        lengths = np.diff(offsets)
        stats[name] = {
            "rows": len(targets),
            "users_left_out": part.left_out,
            "min_interactions": part.min_interactions,
            "mean_history": round(float(lengths.mean()), 2) if len(lengths) else 0.0,
        }
    if cutoff is not None:
        stats["time_cutoff"] = cutoff
    return tables, stats


def prepare(config: PrepareConfig, out_dir: str | Path) -> dict[str, Any]:
    """Prepare `config.dataset` into the directory `out_dir`; returns what is also written to stats.json."""
    started = time.perf_counter()
    folder = resolve_source(config.dataset, config.data_dir)
    log.info("reading %s from %s", config.dataset, folder)
    raw = READERS[config.dataset](folder)
    check_values(raw, config.dataset)
    encoded = encode(raw, config)
    splits, split_stats = build_splits(encoded, config)
    if splits["test"].num_rows == 0:
        raise DataError(
            raw.interactions_file,
            f"no user has enough interactions for a test row ({split_stats['test']['min_interactions']} "
            f"needed with split={config.split}); expected at least one such user",
        )
    stats = _stats(config, folder, raw.files, raw.notes, encoded, split_stats)
    tables = {
        "items": encoded.items,
        "users": encoded.users,
        "interactions": encoded.interactions,
        **splits,
    }
    if encoded.social is not None:
        tables["social"] = encoded.social
    with atomic_dir(out_dir) as tmp:
        for name, table in tables.items():
            pq.write_table(table.cast(TABLES[name]), tmp / f"{name}.parquet")
        stats["tables"] = {
            name: {"rows": table.num_rows, "sha256": sha256_file(tmp / f"{name}.parquet")}
            for name, table in tables.items()
        }
        stats["digest"] = digest_files(tmp / f"{name}.parquet" for name in tables)
        stats["seconds"] = round(time.perf_counter() - started, 3)
        (tmp / "stats.json").write_text(
            json.dumps(stats, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8"
        )
    log.info(
        "prepared %s: %d users, %d items, %d interactions; train/valid/test rows %d/%d/%d in %.2fs",
        config.dataset,
        stats["users"],
        stats["catalogue_items"],
        stats["interactions"],
        *(split_stats[s]["rows"] for s in SPLIT_NAMES),
        stats["seconds"],
    )
    return stats


def _stats(
    config: PrepareConfig,
    folder: Path,
    files: list[Path],
    notes: list[str],
    encoded: Encoded,
    split_stats: dict[str, Any],
) -> dict[str, Any]:
    inter = encoded.interactions
    rating = inter["rating"].to_numpy()
    per_user = np.bincount(inter["user_id"].to_numpy(), minlength=encoded.users.num_rows)
    items_used = int(np.count_nonzero(np.bincount(inter["item_id"].to_numpy(), minlength=encoded.items.num_rows)))
    has_time = inter["timestamp"].null_count == 0
    ts = inter["timestamp"].to_numpy() if has_time else None
    stats: dict[str, Any] = {
        "dataset": config.dataset,
        "source": {
            "folder": str(folder),
            "files": {p.name: sha256_file(p) for p in files},
            "digest": digest_files(files),
        },
        "config": config.to_params(),
        "users": encoded.users.num_rows,
        "catalogue_items": encoded.items.num_rows,
        "items_with_interactions": items_used,
        "interactions": inter.num_rows,
        **encoded.counts,
        "density": round(inter.num_rows / (encoded.users.num_rows * encoded.items.num_rows), 6),
        "interactions_per_user": {
            "min": int(per_user.min()),
            "median": float(np.median(per_user)),
            "mean": round(float(per_user.mean()), 2),
            "max": int(per_user.max()),
        },
        "rating": {
            "min": float(rating.min()),
            "max": float(rating.max()),
            "mean": round(float(rating.mean()), 4),
        },
        "timestamps": {"min": int(ts.min()), "max": int(ts.max())} if ts is not None else None,
        "splits": split_stats,
        "notes": notes,
    }
    if encoded.social is not None:
        stats["social"] = {
            "rows": encoded.social.num_rows,
            "dropped": encoded.counts.get("social_dropped", 0),
        }
    return stats
