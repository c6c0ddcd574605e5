"""Reading what a kfp.local run recorded for a task: its executor output (what the KFP UI shows on a cluster)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def run_folder(output_path: str | Path) -> Path:
    """The run's folder under pipeline-root, from the path of one of its outputs (<run>/<task>/<output>)."""
    return Path(output_path).parents[1]


def task_artifact(run_dir: Path, task: str, output: str) -> dict[str, Any]:
    """{name, uri, metadata} of one output artifact of `task` as its executor wrote it."""
    record = json.loads((run_dir / task / "executor_output.json").read_text(encoding="utf-8"))
    return record["artifacts"][output]["artifacts"][0]
