"""Real-time evaluation without model updates (RecICL): AUC and UAUC per later time window.

Every model answers the same queries of each window (those with at least `icl_demos` earlier interactions):
- recicl: the in-context model with demonstrations = the user's latest interactions before each query;
- recicl-no-demos: the same model asked without demonstrations;
- sft: a plain (non-ICL) model trained on the same training window;
- retrained: the upper bound, an in-context model retrained on all data before the window;
- untuned: the base model itself (the resolve step's artifact), asked with the same demonstrations: what in-context
  learning gives without any tuning (a pretrained instruct model answers as its chat template's assistant).
A window whose queries are all liked (or all not liked) has no AUC; it is skipped and the reason recorded.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from components.common.atomic import atomic_dir
from components.common.prepared import Prepared
from components.recsys.icl_config import ICLConfig
from components.recsys.metrics import auc, roc_curve, uauc
from components.recsys.recicl import as_turns, build_samples, window_queries, windows

log = logging.getLogger(__name__)
MODELS = ("recicl", "recicl-no-demos", "sft", "retrained", "untuned")


def _load(model_dir: Path, cache: dict, data: Prepared, icl: ICLConfig) -> tuple[Any, Any, dict]:
    """(model, tokenizer, format) of a trained folder or, for a base-model artifact, of the untuned base model."""
    from components.common.models import load_base_model

    if model_dir not in cache:
        described = json.loads((model_dir / "model.json").read_text())
        if described.get("kind") == "base":
            from components.common.base_model import read_reference
            from components.recsys.prompts import DOMAINS, uses_chat

            model, tokenizer = load_base_model(read_reference(model_dir)["base_model"], corpus=data.titles)
            described = {"history_len": icl.icl_history_len, "domain": DOMAINS.get(data.stats["dataset"], "movie"),
                         "chat": uses_chat(tokenizer)}  # fmt: skip
        else:
            model, tokenizer = load_base_model(str(model_dir / "model"))
        cache[model_dir] = (model, tokenizer, described)
    return cache[model_dir]


def evaluate_realtime(
    dataset_dir: str | Path,
    icl: ICLConfig,
    recicl_dir: str | Path,
    sft_dir: str | Path,
    retrained_dir: str | Path | None,
    out_dir: str | Path,
    base_dir: str | Path | None = None,
) -> dict:
    """{'windows': [...], 'results': {model: [{window, auc, uauc, queries, positive_share}]}, 'skipped': [...],
    'roc': RecICL's ROC curve over every window's queries pooled ({} when it scored none)}."""
    from components.recsys.icl_scoring import yes_scores

    data = Prepared(dataset_dir)
    timeline, bounds = windows(data, icl)
    recicl_dir, sft_dir = Path(recicl_dir), Path(sft_dir)
    info = json.loads((recicl_dir / "model.json").read_text())
    specs: dict[str, tuple[Path, int] | None] = {
        "recicl": (recicl_dir, info["demos"]),
        "recicl-no-demos": (recicl_dir, 0),
        "sft": (sft_dir, 0),
        "retrained": None,
        "untuned": (Path(base_dir), icl.icl_demos) if base_dir else None,
    }
    results: dict[str, list[dict]] = {name: [] for name in MODELS}
    skipped: list[str] = []
    cache: dict = {}
    pooled: dict[str, list] = {"labels": [], "scores": []}  # RecICL's, over the windows
    for window in range(1, len(bounds) - 1):
        queries = window_queries(timeline, bounds, window, icl.icl_eval_queries, icl.icl_seed)
        queries = queries[timeline.earlier[queries] >= icl.icl_demos]  # the same queries for every model
        labels = timeline.liked[queries]
        if len(queries) == 0 or labels.all() or not labels.any():
            reason = "no queries" if len(queries) == 0 else ("no positives" if not labels.any() else "no negatives")
            skipped.append(f"window {window}: {reason} among {len(queries)} queries; AUC undefined, skipped")
            log.warning(skipped[-1])
            continue
        for name in MODELS:
            spec = specs[name]
            if name == "retrained":  # before window 1 the retrained model has the same data as RecICL itself
                folder = Path(retrained_dir) / f"window-{window}" if retrained_dir else None
                if window == 1 and retrained_dir and (Path(retrained_dir) / "windows.json").is_file():
                    trained = json.loads((Path(retrained_dir) / "windows.json").read_text())["trained"]
                    spec = specs["recicl"] if trained else None
                elif folder is not None and (folder / "model.json").is_file():
                    spec = (folder, json.loads((folder / "model.json").read_text())["demos"])
                else:
                    spec = None
            if spec is None:
                continue
            model, tokenizer, described = _load(spec[0], cache, data, icl)
            samples = build_samples(
                timeline, data.titles, queries, spec[1], described["history_len"], described["domain"]
            )
            scores = yes_scores(model, tokenizer, as_turns(samples.prompts, tokenizer, bool(described.get("chat"))))
            if name == "recicl":
                pooled["labels"].append(np.asarray(samples.labels))
                pooled["scores"].append(np.asarray(scores))
            try:
                user_auc = uauc(samples.users, samples.labels, scores)
            except ValueError:
                user_auc = float("nan")
            results[name].append({
                "window": window,
                "auc": auc(samples.labels, scores),
                "uauc": user_auc,
                "queries": len(samples.labels),
                "positive_share": float(samples.labels.mean()),
            })  # fmt: skip
    results = {name: rows for name, rows in results.items() if rows}
    roc = {}
    if pooled["labels"]:
        labels = np.concatenate(pooled["labels"])
        if labels.any() and not labels.all():
            roc = roc_curve(labels, np.concatenate(pooled["scores"]))
    summary = {"windows": bounds.tolist(), "results": results, "skipped": skipped, "roc": roc}
    with atomic_dir(out_dir) as tmp:
        (tmp / "metrics.json").write_text(json.dumps(summary, indent=2))
        (tmp / "report.md").write_text(render_realtime(summary))
        plot_auc(summary, tmp / "auc_per_window.png")
    return summary


def render_realtime(summary: dict) -> str:
    lines = ["# Real-time evaluation (AUC / UAUC per window, no model updates)", ""]
    windows_seen = sorted({r["window"] for rows in summary["results"].values() for r in rows})
    lines += [
        "| model | " + " | ".join(f"window {w}" for w in windows_seen) + " |",
        "|---|" + "---|" * len(windows_seen),
    ]
    for name, rows in summary["results"].items():
        by_window = {r["window"]: r for r in rows}
        cells = [
            f"{by_window[w]['auc']:.4f} / {by_window[w]['uauc']:.4f}" if w in by_window else "" for w in windows_seen
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    first = next(iter(summary["results"].values()), [])
    if first:
        lines += [
            "",
            "Queries per window: "
            + ", ".join(f"{r['window']}: {r['queries']} ({r['positive_share']:.0%} liked)" for r in first),
        ]
    lines += [f"- {note}" for note in summary["skipped"]]
    return "\n".join(lines) + "\n"


def plot_auc(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axis = plt.subplots(figsize=(6, 3.6), dpi=120)
    for name, rows in summary["results"].items():
        axis.plot([r["window"] for r in rows], [r["auc"] for r in rows], marker="o", label=name)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_xlabel("window (later = further from training)")
    axis.set_ylabel("AUC")
    axis.set_title("AUC per window without model updates")
    axis.grid(alpha=0.3)
    if summary["results"]:
        axis.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
