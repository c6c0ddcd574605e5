"""Shared output of the training benchmarks: one Markdown table of timed runs and a JSON record with the machine.

Each row is {"seconds", "steps", "eval_loss"} keyed by the variant's name; ratios are to the named base row.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path


def report_training_rows(rows: dict[str, dict], base: str, first_header: str, seconds_header: str, path: Path) -> None:
    """Print the table (seconds, steps, final eval loss, time relative to `base`) and write `path`."""
    reference = rows[base]["seconds"]
    print(f"\n| {first_header} | {seconds_header} | steps | final eval loss | ratio to {base} |\n|---|---|---|---|---|")
    for name, r in rows.items():
        ratio = r["seconds"] / reference
        print(f"| {name} | {r['seconds']:.1f} | {r['steps']} | {r['eval_loss']:.4f} | {ratio:.2f}x |")
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    path.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
