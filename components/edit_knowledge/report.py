"""The knowledge-edit comparison: the four metrics against the number of edits for every method, as a Markdown
table of the final values, a per-batch table and a PNG plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

METRICS = ("efficacy", "generalization", "specificity", "fluency")


def read_curves(folders: list[str | Path]) -> dict[str, dict[str, Any]]:
    """{method: {"curve": [...], "summary": {...}}} from the edit steps' evaluation folders."""
    from components.common.errors import DataError

    found: dict[str, dict[str, Any]] = {}
    for folder in folders:
        curve_path, summary_path = Path(folder) / "curve.json", Path(folder) / "edits.json"
        for path in (curve_path, summary_path):
            if not path.is_file():
                raise DataError(path, "file not found; expected an edit step's evaluation")
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        found[summary["method"]] = {"curve": json.loads(curve_path.read_text(encoding="utf-8")), "summary": summary}
    return dict(sorted(found.items()))


def markdown(curves: dict[str, dict[str, Any]], stats: dict[str, Any]) -> str:
    lines = ["# Knowledge editing: AlphaEdit vs MEMIT", ""]
    edits = max(r["summary"]["edits"] for r in curves.values())
    lines += [
        f"After {edits} sequential edits (batches of {next(iter(curves.values()))['summary']['batch_size']}):",
        "",
    ]
    lines += ["| method | " + " | ".join(METRICS) + " | s / batch |", "|---|" + "---|" * (len(METRICS) + 1)]
    for method, record in curves.items():
        final = record["curve"][-1]
        values = " | ".join(f"{final[m]:.3f}" for m in METRICS)
        lines.append(f"| {method} | {values} | {record['summary']['seconds_per_batch']:.1f} |")
    lines += ["", "Before editing (the model as trained, over the whole edit set):", ""]
    for method, record in curves.items():
        start = record["curve"][0]
        lines.append(f"- {method}: " + ", ".join(f"{m} {start[m]:.3f}" for m in METRICS))
    lines += [
        "",
        "## Per batch",
        "",
        "| edits | " + " | ".join(f"{m} ({k})" for k in curves for m in METRICS[:3]) + " |",
    ]
    lines.append("|---|" + "---|" * (3 * len(curves)))
    steps = [p["edits"] for p in next(iter(curves.values()))["curve"]]
    for index, step in enumerate(steps):
        cells = [f"{record['curve'][index][m]:.3f}" for record in curves.values() for m in METRICS[:3]]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    dims = ", ".join(
        f"layer {k}: {v} of {stats.get('key_size', '?')}" for k, v in stats.get("null_space_dims", {}).items()
    )
    lines += [
        "",
        f"Preserved statistics: {stats.get('texts', '?')} texts, {stats.get('tokens', '?')} tokens; null-space "
        f"dimensions at threshold {stats.get('threshold', '?')}: {dims}.",
    ]
    if stats.get("warning"):
        lines += ["", f"Warning: {stats['warning']}"]
    return "\n".join(lines) + "\n"


def plot(curves: dict[str, dict[str, Any]], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(METRICS), figsize=(13, 3.2), dpi=110)
    for axis, metric in zip(axes, METRICS, strict=True):
        for method, record in curves.items():
            xs = [p["edits"] for p in record["curve"]]
            axis.plot(xs, [p[metric] for p in record["curve"]], marker="o", markersize=3, label=method)
        axis.set_title(metric)
        axis.set_xlabel("edits")
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
