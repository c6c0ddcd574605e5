"""What the prepare step records in MLflow: the raw source as a dataset input with its digest, the prepared
Dataset as an output, its statistics as metrics and `stats.json` as an artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.common import tracking
from components.common.digests import digest_files
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare


def prepare_and_track(config: PrepareConfig, out_dir: str | Path) -> dict[str, Any]:
    stats = prepare(config, out_dir)
    source = stats["source"]
    tracking.log_dataset(
        config.dataset,
        source["folder"],
        source["digest"],
        context="source",
        tags={"files": ", ".join(sorted(source["files"]))},
    )
    tracking.log_output("prepared", str(Path(out_dir).resolve()), stats["digest"])
    numbers = {key: value for key, value in stats.items() if key not in ("config", "tables", "source")}
    tracking.log_flat_metrics(numbers)
    import mlflow

    mlflow.log_artifact(str(Path(out_dir) / "stats.json"))
    return stats


def report_and_track(dataset_dir: str | Path, report_path: str | Path) -> str:
    """Render the data report of the prepared Dataset in `dataset_dir` to `report_path`."""
    from components.common.atomic import atomic_file
    from components.prepare_data.report import render_report

    text = render_report(dataset_dir)
    tracking.log_prepared(dataset_dir, context="report")
    with atomic_file(report_path) as handle:
        handle.write(text)
    tracking.log_output("report", str(Path(report_path).resolve()), digest_files([report_path]))
    import mlflow

    mlflow.log_text(text, "data_report.md")
    return text
