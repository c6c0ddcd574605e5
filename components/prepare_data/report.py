"""The data report: a Markdown summary of a prepared Dataset directory (counts, cleaning, splits, schemas)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from components.common.schemas import TABLES, describe


def render_report(dataset_dir: str | Path, top_k: int = 10) -> str:
    """Markdown text describing the prepared dataset in `dataset_dir`."""
    folder = Path(dataset_dir)
    stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
    items = pq.read_table(folder / "items.parquet", columns=["item_id", "title"])
    inter = pq.read_table(folder / "interactions.parquet", columns=["item_id"])
    counts = np.bincount(inter["item_id"].to_numpy(), minlength=items.num_rows)
    top = np.argsort(-counts, kind="stable")[:top_k]
    titles = items["title"].to_pylist()

    lines = [
        f"# Dataset report: {stats['dataset']}",
        "",
        f"Prepared digest `{stats['digest']}` from source digest `{stats['source']['digest']}` "
        f"({', '.join(sorted(stats['source']['files']))}).",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| users | {stats['users']:,} |",
        f"| catalogue items | {stats['catalogue_items']:,} |",
        f"| items with interactions | {stats['items_with_interactions']:,} |",
        f"| interactions | {stats['interactions']:,} |",
        f"| density | {stats['density']:.4%} |",
        f"| interactions per user (min / median / mean / max) | {_spread(stats['interactions_per_user'])} |",
        f"| rating (min / mean / max) | {stats['rating']['min']} / {stats['rating']['mean']} / "
        f"{stats['rating']['max']} |",
        "",
        "## Cleaning",
        "",
        "| step | interactions removed |",
        "|---|---|",
        f"| duplicates (kept the {stats['config']['duplicates']}) | {stats['duplicates_removed']:,} |",
        f"| unknown items dropped | {stats['unknown_items_dropped']:,} |",
        f"| below min_rating={stats['config']['min_rating']} | {stats['below_min_rating']:,} |",
        f"| k-core (k={stats['config']['kcore']}) | {stats['kcore_removed']:,} |",
        "",
        f"## Splits ({stats['config']['split']}, {stats['config']['num_negatives']} negatives per candidate set)",
        "",
        "| split | rows | users left out | interactions needed | mean history |",
        "|---|---|---|---|---|",
    ]
    for name in ("train", "valid", "test"):
        part = stats["splits"][name]
        lines.append(
            f"| {name} | {part['rows']:,} | {part['users_left_out']:,} | {part['min_interactions']} | "
            f"{part['mean_history']} |"
        )
    if "time_cutoff" in stats["splits"]:
        lines += ["", f"Time cutoff: {stats['splits']['time_cutoff']} (Unix seconds)."]
    if stats.get("social"):
        lines += ["", f"Friendship rows: {stats['social']['rows']:,} ({stats['social']['dropped']} dropped)."]
    for note in stats.get("notes", []):
        lines += ["", f"Note: {note}."]
    lines += [
        "",
        f"## Most interacted items (top {top_k})",
        "",
        "| item | title | interactions |",
        "|---|---|---|",
    ]
    lines += [f"| {i} | {_cell(titles[i])} | {counts[i]:,} |" for i in top]
    lines += ["", "## Tables", ""]
    for name, info in stats["tables"].items():
        lines += [
            f"### {name}.parquet ({info['rows']:,} rows)",
            "",
            "| column | type | meaning |",
            "|---|---|---|",
        ]
        lines += [f"| {col} | {kind} | {doc} |" for col, kind, doc in describe(TABLES[name])]
        lines.append("")
    return "\n".join(lines)


def _spread(values: dict) -> str:
    return f"{values['min']} / {values['median']} / {values['mean']} / {values['max']}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
