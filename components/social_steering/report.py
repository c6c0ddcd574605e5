"""The `social-steering` report (NIRec, Pan et al., arXiv 2409.08934): the simulation, every estimator's fit, the
IoIP-DtNE table of every policy and lambda, the curves as a PNG, and whether NIRec's curve dominates each baseline's
at equal DtNE (NIRec's best IoIP at no more damage, the base exposure included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def nirec_at(nirec: list[dict], base: dict, dtne: float) -> float | None:
    """NIRec's best IoIP at damage at most `dtne` over its points and the base exposure; None where every NIRec
    point does more damage (no comparison)."""
    points = [(0.0, base["ioip"])] + [(r["dtne"], r["ioip"]) for r in nirec]
    reachable = [ioip for damage, ioip in points if damage <= dtne + 1e-12]
    return max(reachable) if reachable else None


def dominance(evaluations: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """Per baseline: its points with flips that a NIRec point matches in damage, how many of them NIRec's IoIP
    equals or beats at no more damage, and the smallest margin."""
    nirec, base = evaluations["nirec"]["curve"], evaluations["nirec"]["base"]
    out = {}
    for name, evaluation in evaluations.items():
        if name == "nirec":
            continue
        margins = []
        for row in evaluation["curve"]:
            best = nirec_at(nirec, base, row["dtne"]) if row["flips"] > 0 else None
            if best is not None:
                margins.append(best - row["ioip"])
        out[name] = {
            "points": len(margins),
            "nirec_ahead": sum(m >= -1e-9 for m in margins),
            "min_margin": min(margins) if margins else 0.0,
        }
    return out


def render(evaluations: dict[str, dict], estimators: list[dict], stats: dict, plot_path: Path) -> str:
    """Markdown report; writes the IoIP-DtNE curves to `plot_path`."""
    lambdas = evaluations["nirec"]["lambdas"]
    base = evaluations["nirec"]["base"]
    lines = [
        "# Proactive recommendation through neighbours (NIRec)",
        "",
        f"Semi-simulation on {stats['users']:,} users, {stats['items']:,} items, {stats['friendships']:,} friendships"
        f" ({stats['users_without_friends']} users without friends); completion RMSE {stats['completion_rmse']};"
        f" {stats['exposures']:,} logged exposures, click rate {stats['click_rate']:.3f};"
        f" {stats['target_items']} target items, {stats['target_pairs']:,} target (user, item) pairs.",
        "",
        "## Estimators (logged clicks; best validation epoch; test split)",
        "",
        "| estimator | valid log-loss | test log-loss | test AUC | best epoch | edge-effect corr. | train s |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in sorted(estimators, key=lambda r: r["test_logloss"]):
        corr = f"{row['edge_effect_corr']:.3f}" if "edge_effect_corr" in row else "n/a"
        lines.append(
            f"| {row['estimator']} | {row['valid_logloss']:.4f} | {row['test_logloss']:.4f} | {row['test_auc']:.4f} |"
            f" {row['best_epoch']} | {corr} | {row['seconds']:.0f} |"
        )
    lines += [
        "",
        "## IoIP against DtNE under the ground truth",
        "",
        f"Base exposure (LightGCN top-K): IoIP {100 * base['ioip']:.2f} %, DtNE 0. `mf` and `random` flip as many"
        " neighbours as `nirec` at the same lambda index.",
        "",
        "| policy | " + " | ".join(f"λ={x:g}" for x in lambdas) + " |",
        "|---|" + "---|" * len(lambdas),
    ]
    for name, evaluation in evaluations.items():
        cells = [f"{100 * r['ioip']:.2f} / {r['dtne']:.3f} / {r['flips']:.1f}" for r in evaluation["curve"]]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Cells: IoIP % / DtNE % / flips per item. A negative DtNE: the inserted item is worth more to the neighbour"
        " than the K-th item it replaces.",
        "",
        "## Does NIRec dominate at equal DtNE?",
        "",
        "Each baseline point (with flips) against NIRec's best IoIP at no more damage (its points and the base).",
        "",
    ]
    for name, row in dominance(evaluations).items():
        lines.append(
            f"- {name}: NIRec's IoIP is at least the baseline's at {row['nirec_ahead']} of {row['points']}"
            " comparable points"
            f" (smallest margin {100 * row['min_margin']:+.2f} IoIP points)."
        )
    lines += ["", "![IoIP against DtNE](ioip_dtne.png)", ""]
    plot(evaluations, plot_path)
    return "\n".join(lines)


def plot(evaluations: dict[str, dict], path: Path) -> None:
    """IoIP against DtNE, each policy's points joined from the base exposure in order of decreasing lambda; the
    right panel leaves out lambda = the grid's first value (the most flips) to show the low-damage end."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    base = evaluations["nirec"]["base"]
    for axis, skip in zip(axes, (0, 1), strict=True):
        for name, evaluation in evaluations.items():
            rows = list(reversed(evaluation["curve"][skip:]))
            xs = [0.0] + [r["dtne"] for r in rows]
            ys = [100 * base["ioip"]] + [100 * r["ioip"] for r in rows]
            axis.plot(xs, ys, marker="o", markersize=3, label=name)
        axis.set_xlabel("DtNE (% of the neighbours' base top-K value)")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("IoIP (% click uplift of targets)")
    axes[0].set_title("every lambda", fontsize=9)
    axes[1].set_title(f"lambda >= {evaluations['nirec']['lambdas'][1]:g}", fontsize=9)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
