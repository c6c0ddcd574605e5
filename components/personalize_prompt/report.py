"""The prompt-personalization report (RPP, Mao et al., TOIS 2025): every method's NDCG@1/5/10 and parse-failure
rate per ranking mode, RPP against the template that was best on the training users (a paired interval), the
ranker's own baseline, and what the agents learnt to choose."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def render_report(results: Mapping[str, Any], training: Mapping[str, Any]) -> str:
    lines = ["# prompt-personalization: RPP against fixed prompts", ""]
    users = results["users"]
    curve = ", ".join(f"{v:.4f}" for v in training.get("training_curve", []))
    lines += [
        f"{users['train']} training users, {users['test']} held-out users, 10 candidates each (the held-out item "
        f"and 9 negatives); a random order scores NDCG@10 {results['random_order_ndcg_10']:.4f}.",
        f"Training curve (mean final-round NDCG@10 on the training users per epoch): {curve or 'none'}.",
        "",
    ]
    for mode, part in results["modes"].items():
        lines += [
            f"## Ranking by {mode}",
            "",
            "| method | NDCG@1 | NDCG@5 | NDCG@10 | parse failures |",
            "|---|---|---|---|---|",
        ]
        for name, m in part["methods"].items():
            label = f"{name} ({m['chosen']})" if "chosen" in m else name
            scores = " | ".join(f"{m[k]:.4f}" for k in ("ndcg_1", "ndcg_5", "ndcg_10"))
            lines.append(f"| {label} | {scores} | {m['parse_failure_rate']:.3f} |")
        gap = part["rpp_minus_best_template_ndcg_10"]
        lines += [
            "",
            f"RPP minus the best template on the training users ({part['best_template_on_train']}): NDCG@10 "
            f"{gap['mean']:+.4f}, 95% paired bootstrap interval [{gap['low']:+.4f}, {gap['high']:+.4f}].",
            "",
        ]
    lines += ["## What the agents choose (mean policy over the held-out users' first state)", ""]
    for pattern, probs in results["action_distribution"].items():
        top = sorted(probs.items(), key=lambda kv: -kv[1])[:3]
        shown = "; ".join(f"{p:.2f} {text or '(none)'!r}" for text, p in top)
        lines.append(f"- {pattern}: {shown}")
    return "\n".join(lines) + "\n"
