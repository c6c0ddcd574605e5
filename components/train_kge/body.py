"""What the `kg-embedding` steps record in MLflow (NFE, Xiao et al., AAAI 2023, beside PyKEEN): the prepared KG as
a dataset input, each model's training curve (`loss`, `valid_mrr` per epoch) and, per model, a run tagged
`recforge.model` holding the filtered test metrics `mrr, mr, hits_1, hits_3, hits_10`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow

from components.common import tracking
from components.common.atomic import atomic_dir
from components.common.digests import digest_dir
from components.train_kge import core
from components.train_kge.config import KGDataConfig, KGEConfig
from components.train_kge.graph import stats_of
from components.train_kge.report import render

EVALUATION_FILE = "evaluation.json"


def _log_kg(kg_dir: str, context: str) -> None:
    stats = stats_of(kg_dir)
    tracking.log_dataset(f"kg-{stats['source']}", stats["source"], digest_dir(kg_dir), context)


def prepare_and_track(config: KGDataConfig, out_dir: str) -> dict:
    stats = core.prepare_kg(config, out_dir)
    _log_kg(out_dir, "training")
    mlflow.log_metrics({k: float(v) for k, v in stats.items() if isinstance(v, int)})
    return stats


def train_and_track(name: str, config: KGEConfig, kg_dir: str, out_dir: str) -> dict:
    mlflow.set_tag("recforge.model", name)
    _log_kg(kg_dir, "training")
    record = core.train_model(
        name, config, kg_dir, out_dir, on_epoch=lambda epoch, values: mlflow.log_metrics(values, step=epoch)
    )
    digest = tracking.log_model_output(name, out_dir)
    mlflow.log_metrics({"best_valid_mrr": record["best_valid_mrr"], "best_epoch": record["best_epoch"]})
    return {"digest": digest, "best_valid_mrr": record["best_valid_mrr"]}


def evaluate_and_track(config: KGEConfig, kg_dir: str, model_dir: str, out_dir: str) -> dict:
    _log_kg(kg_dir, "evaluation")
    tracking.log_model_input("model", model_dir)
    result = core.evaluate_model(config, kg_dir, model_dir)
    mlflow.set_tag("recforge.model", result["model"])
    mlflow.log_metrics({k: float(v) for k, v in result.items() if isinstance(v, int | float)})
    with atomic_dir(out_dir) as tmp:
        (tmp / EVALUATION_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        shutil.copy(Path(model_dir) / core.INFO_FILE, tmp / core.INFO_FILE)
    return result


def report_and_track(evaluation_dirs: list[str], kg_dir: str, report_path: str, out_dir: str) -> dict:
    rows, curves = [], {}
    for folder in evaluation_dirs:
        rows.append(json.loads((Path(folder) / EVALUATION_FILE).read_text(encoding="utf-8")))
        training = json.loads((Path(folder) / core.INFO_FILE).read_text(encoding="utf-8"))
        curves[training["model"]] = training["valid_mrr"]
    with atomic_dir(out_dir) as tmp:
        text = render(rows, curves, stats_of(kg_dir), tmp / "valid_mrr.png")
        (tmp / "results.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(text, encoding="utf-8")
    mlflow.log_text(text, "report.md")
    mlflow.log_artifact(str(Path(out_dir) / "valid_mrr.png"))
    best = max(rows, key=lambda r: r["mrr"])
    return {"best_model": best["model"], "best_mrr": best["mrr"]}
