"""The comparison report: every evaluated model side by side, with random ranking as the reference row."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

COLUMNS = ("hr_1", "hr_5", "hr_10", "ndcg_5", "ndcg_10", "mrr", "valid_ratio", "hallucination_rate", "avg_pop",
           "gen_hr_1", "hr_10_pop_low", "hr_10_pop_mid", "hr_10_pop_high")  # fmt: skip


def random_ranking(n_candidates: int) -> dict[str, float]:
    """Expected metrics of a uniformly random order of n candidates (target rank uniform on 1..n)."""
    n = n_candidates

    def hr(k: int) -> float:
        return min(k, n) / n

    def ndcg(k: int) -> float:
        return sum(1 / math.log2(r + 1) for r in range(1, min(k, n) + 1)) / n

    mrr = sum(1 / r for r in range(1, n + 1)) / n
    return {"hr_1": hr(1), "hr_5": hr(5), "hr_10": hr(10), "ndcg_5": ndcg(5), "ndcg_10": ndcg(10), "mrr": mrr}


def render_comparison(results: Sequence[tuple[str, dict]], title: str = "Model comparison") -> str:
    """Markdown table of (model name, evaluate result) pairs."""
    shown = [c for c in COLUMNS if any(c in r["metrics"] for _, r in results)]
    lines = [f"# {title}", ""]
    if results:
        first = results[0][1]
        lines += [f"{first['users']} users, {first['candidates']} candidates each (target + negatives).", ""]
    lines += ["| model | " + " | ".join(shown) + " |", "|---|" + "---|" * len(shown)]
    for name, result in results:
        cells = [f"{result['metrics'][c]:.4f}" if c in result["metrics"] else "" for c in shown]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if results:
        reference = random_ranking(results[0][1]["candidates"])
        lines.append(
            "| random (expected) | " + " | ".join(f"{reference[c]:.4f}" if c in reference else "" for c in shown) + " |"
        )
    lines += [
        "",
        "hr/ndcg/mrr rank the candidates; valid_ratio, hallucination_rate and gen_hr_1 judge generated answers "
        "(rankers choose a candidate by construction: 1 and 0); avg_pop is the mean share of training users who "
        "interacted with each top-1 item; hr_10_pop_* split users into thirds by their target's popularity.",
    ]
    return "\n".join(lines) + "\n"


def load_results(paths: Sequence[str | Path]) -> list[dict]:
    return [json.loads((Path(p) / "metrics.json").read_text()) for p in paths]
