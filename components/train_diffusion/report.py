"""The pigeon report: history similarity, history SSIM and target similarity (in the stage-1 encoder's space and
in the held-out evaluator's) and the diversity across users of Pigeon (stage 2), Pigeon stage 1 and the
no-history baseline on the same held-out windows, paired differences with 95% intervals, the training summary,
and one picture grid (history | stage 1 | Pigeon | no history | target per user)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from components.common.errors import DataError
from components.train_diffusion.config import VARIANTS
from components.train_diffusion.evaluation import METRICS, read_evaluation
from components.train_diffusion.grid import save_grid

GRID_ORDER = ("pigeon-stage1", "pigeon", "no-history")
COLUMNS = (*METRICS, "diversity_heldout")


def read_all(folders: list[str | Path]) -> dict[str, dict[str, Any]]:
    """variant -> {"record": metrics.json, "scores": per-window arrays, "samples": grid images}."""
    found: dict[str, dict[str, Any]] = {}
    for folder in folders:
        record = read_evaluation(folder)
        with np.load(Path(folder) / "scores.npz") as scores, np.load(Path(folder) / "samples.npz") as samples:
            found[record["variant"]] = {
                "record": record,
                "scores": {k: scores[k] for k in scores.files},
                "samples": {k: samples[k] for k in samples.files},
            }
    missing = [v for v in VARIANTS if v not in found]
    if missing:
        raise DataError("evaluations", f"missing variant(s) {', '.join(missing)}; expected {', '.join(VARIANTS)}")
    return found


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mean of a - b, its 95% normal interval half-width, and the share of windows where a > b."""
    diff = a - b
    half = 1.96 * float(diff.std(ddof=1)) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
    return float(diff.mean()), half, float((diff > 0).mean())


def markdown(evals: dict[str, dict[str, Any]], training: dict[str, float], grid_name: str = "grid.png") -> str:
    first = evals["pigeon"]["record"]
    lines = [
        "# Pigeon: personalized poster generation",
        "",
        f"{first['windows']} test windows of {first['users']} held-out users (5 history images + the target).",
        "",
        "`_heldout`: in the space of the held-out evaluator, which no training step saw (stage 2 chose its pairs by"
        " `history_similarity`); `diversity_heldout`: mean 1 − cosine between generations for different users.",
        "",
        "| model | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for variant in VARIANTS:
        metrics = evals[variant]["record"]["metrics"]
        lines.append(f"| {variant} | " + " | ".join(f"{metrics[m]:.4f}" for m in COLUMNS) + " |")
    poster = first["target_poster"]
    cells = [f"{poster[m]:.4f}" if m in poster else ("1" if m.startswith("target") else "") for m in COLUMNS]
    lines += [
        "| (the true target poster) | " + " | ".join(cells) + " |",
        "",
        "Paired differences per window (mean, 95% interval, share of windows where the first is higher):",
        "",
    ]
    for a, b in (("pigeon", "no-history"), ("pigeon-stage1", "no-history"), ("pigeon", "pigeon-stage1")):
        for metric in METRICS:
            mean, half, share = paired(evals[a]["scores"][metric], evals[b]["scores"][metric])
            lines.append(f"- {a} − {b}, {metric}: {mean:+.4f} ± {half:.4f} ({share:.0%} of windows)")
    if training:
        lines += ["", "Training:", ""]
        lines += [f"- {key}: {value:.4g}" for key, value in training.items()]
    lines += ["", f"![history | stage 1 | Pigeon | no history | target]({grid_name})", ""]
    lines.append("Each row: the user's 5 history posters | Pigeon stage 1 | Pigeon | no-history | the true target.")
    return "\n".join(lines) + "\n"


def write_grid(evals: dict[str, dict[str, Any]], path: str | Path) -> None:
    base = evals["pigeon"]["samples"]
    if not len(base["users"]):
        return
    for variant in GRID_ORDER:
        if not np.array_equal(evals[variant]["samples"]["users"], base["users"]):
            raise DataError("evaluations", f"{variant} shows other sample users; expected the same test windows")
    save_grid(path, base["history"], [evals[v]["samples"]["generated"] for v in GRID_ORDER], base["target"])
