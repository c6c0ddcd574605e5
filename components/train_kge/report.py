"""The `kg-embedding` report (NFE, Xiao et al., AAAI 2023, beside PyKEEN): one table of every model's filtered test
metrics, their validation-MRR curves as a PNG, and the split it ran on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLUMNS = ("mrr", "mr", "hits_1", "hits_3", "hits_10")


def render(rows: list[dict[str, Any]], curves: dict[str, list[float]], stats: dict[str, Any], plot_path: Path) -> str:
    """Markdown report; writes the validation-MRR curves to `plot_path`."""
    rows = sorted(rows, key=lambda r: -r["mrr"])
    lines = [
        f"# Knowledge-graph embedding on {stats['source']}",
        "",
        f"{stats['n_entities']:,} entities, {stats['n_relations']} relations (+ reciprocals); "
        f"{stats['train_triples']:,} / {stats['valid_triples']:,} / {stats['test_triples']:,} train / valid / test "
        f"triples; unseen valid/test triples: {stats['unseen']} "
        f"({stats['valid_unseen_dropped']} / {stats['test_unseen_dropped']} dropped).",
        "",
        "Filtered ranking over both directions, ties counted against the model; the epoch with the best validation "
        "MRR is kept. PyKEEN's rows are PyKEEN's own evaluator (`ours` beside it: our evaluator on the same model).",
        "",
        "| model | MRR | MR | Hits@1 | Hits@3 | Hits@10 | best epoch | valid MRR | params | train s | ours MRR |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours = f"{row['ours_mrr']:.4f}" if "ours_mrr" in row else ""
        lines.append(
            f"| {row['model']} | {row['mrr']:.4f} | {row['mr']:.0f} | {row['hits_1']:.4f} | {row['hits_3']:.4f} | "
            f"{row['hits_10']:.4f} | {row['best_epoch']} | {row['best_valid_mrr']:.4f} | {row['parameters']:,} | "
            f"{row['train_seconds']:.0f} | {ours} |"
        )
    lines += ["", "![validation MRR per epoch](valid_mrr.png)", ""]
    plot(curves, plot_path)
    return "\n".join(lines)


def plot(curves: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.6), dpi=110)
    for name, values in sorted(curves.items()):
        axis.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    from matplotlib.ticker import MaxNLocator

    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("epoch")
    axis.set_ylabel("filtered validation MRR")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
