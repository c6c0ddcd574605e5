"""What the knowledge-edit steps record in MLflow: the fact model (inputs, learning curve, known share), the C0
statistics (tokens, null-space size, cache use), each method's metrics per batch, and the comparison."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow

from components.common import tracking
from components.common.base_model import read_reference
from components.edit_knowledge import core
from components.edit_knowledge.config import EditConfig, FactConfig
from components.edit_knowledge.report import markdown, plot, read_curves


def fact_model_and_track(config: FactConfig, dataset_dir: str, base_dir: str, model_out: str, facts_out: str) -> dict:
    tracking.log_prepared(dataset_dir, context="training")
    tracking.log_base_model(read_reference(base_dir, config.base_model))
    record = core.build_fact_model(config, dataset_dir, model_out, facts_out)
    for epoch, loss in enumerate(record.pop("loss_curve")):
        mlflow.log_metric("fact_loss", loss, step=epoch + 1)
    tracking.log_flat_metrics(record)  # known_<relation>_facts / _known: what a pretrained model knows
    mlflow.set_tag("recforge.fact_set", record["fact_set"])
    tracking.log_output("facts", str(Path(facts_out).resolve()), tracking.digest_of(facts_out))
    digest = tracking.write_lineage_and_log_output(model_out)
    return {
        "digest": digest,
        "fact_set": record["fact_set"],
        "facts": record["facts"],
        "edits": record["edits"],
        "known_share": record["known_share"],
        "known": record["known"],
    }


def cache_folder(config: EditConfig) -> Path:
    if config.stats_cache_dir:
        return Path(config.stats_cache_dir).expanduser()
    root = os.environ.get("RECFORGE_CHECKPOINT_ROOT") or str(Path.home() / ".cache" / "recforge" / "checkpoints")
    return Path(root) / "edit-stats"


def statistics_and_track(config: EditConfig, model_dir: str, facts_dir: str, out_dir: str) -> dict:
    """C0 over `preserved_corpus` (WikiText-2, a text file, or the unedited facts)."""
    tracking.log_model_input("fact-model", model_dir)
    summary = core.compute_statistics(config, model_dir, facts_dir, out_dir, cache_folder(config))
    mlflow.log_metrics(
        {
            "stats_tokens": summary["tokens"],
            "stats_texts": summary["texts"],
            "stats_seconds": summary["seconds"],
            "stats_cached_layers": len(summary["cached_layers"]),
            **{f"null_space_dim_layer_{k}": v for k, v in summary["null_space_dims"].items()},
        }
    )
    mlflow.set_tags(
        {
            "recforge.corpus": summary["corpus"],
            "recforge.corpus_digest": summary["corpus_digest"],
            "recforge.stats_warning": summary["warning"],
        }
    )
    tracking.log_output("stats", str(Path(out_dir).resolve()), tracking.digest_of(out_dir))
    return summary


def edits_and_track(
    config: EditConfig, method: str, model_dir: str, facts_dir: str, stats_dir: str, model_out: str, eval_out: str
) -> dict:
    tracking.log_model_input("fact-model", model_dir)

    def on_batch(point: dict, timing: dict) -> None:
        step = int(point["edits"])
        mlflow.log_metrics({k: v for k, v in point.items() if k != "edits"}, step=step)
        mlflow.log_metrics({"batch_seconds": timing["seconds"], "target_nll": timing["target_nll"]}, step=step)

    summary = core.run_edits(config, method, model_dir, facts_dir, stats_dir, model_out, eval_out, on_batch)
    first = json.loads((Path(eval_out) / "curve.json").read_text(encoding="utf-8"))[0]
    mlflow.log_metrics({k: v for k, v in first.items() if k != "edits"}, step=0)
    mlflow.log_metrics(
        {"seconds_per_batch": summary["seconds_per_batch"], "projector_seconds": summary["projector_seconds"]}
    )
    mlflow.log_artifacts(eval_out)
    tracking.log_output("evaluation", str(Path(eval_out).resolve()), tracking.digest_of(eval_out))
    digest = tracking.write_lineage_and_log_output(model_out)
    return {"digest": digest, **{k: v for k, v in summary["final"].items()}}


def report_and_track(evaluations: list[str], stats_dir: str, report_path: str, out_dir: str) -> dict:
    """Markdown report (the step's Markdown output) and a folder with the report and the curves' PNG."""
    from components.common.atomic import atomic_dir

    curves = read_curves(evaluations)
    stats = json.loads((Path(stats_dir) / "stats.json").read_text(encoding="utf-8"))
    text = markdown(curves, stats)
    with atomic_dir(out_dir) as tmp:
        (tmp / "report.md").write_text(text, encoding="utf-8")
        plot(curves, tmp / "edit_curves.png")
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(text, encoding="utf-8")
    mlflow.log_artifacts(out_dir)
    finals = {f"{method}_{k}": v for method, r in curves.items() for k, v in r["curve"][-1].items() if k != "edits"}
    mlflow.log_metrics(finals)
    tracking.log_output("comparison", str(Path(out_dir).resolve()), tracking.digest_of(out_dir))
    return finals
