"""What the pigeon steps record in MLflow: the image data (inputs, counts), each training stage's curves and
throughput, each variant's metrics (tagged `recforge.model`) with its grid, and the report."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mlflow

from components.common import tracking
from components.train_diffusion.config import (
    EvaluatorConfig,
    ImageDataConfig,
    ImageEvalConfig,
    Stage1Config,
    Stage2Config,
)

log = logging.getLogger(__name__)


def progress(stage: str, step: int, metrics: dict[str, float]) -> None:
    """One progress line in the step's log and the numbers in its MLflow run."""
    log.info("%s step %d: %s", stage, step, ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    mlflow.log_metrics(metrics, step=step)


def image_data_and_track(config: ImageDataConfig, dataset_dir: str, out_dir: str) -> dict:
    from components.train_diffusion.data import build_image_data

    tracking.log_prepared(dataset_dir, context="training")
    if config.image_dir:
        tracking.log_dataset("item-images", config.image_dir, tracking.digest_of(config.image_dir), context="images")
    summary = build_image_data(config, dataset_dir, out_dir)
    tracking.log_flat_metrics({k: v for k, v in summary.items() if k != "image_source"})
    mlflow.set_tag("recforge.image_source", summary["image_source"])
    tracking.log_output("image-data", str(Path(out_dir).resolve()), tracking.digest_of(out_dir))
    return summary


def stage1_and_track(config: Stage1Config, data_dir: str, base_dir: str, model_out: str) -> dict:
    from components.common.base_model import read_reference
    from components.train_diffusion.stage1 import train_stage1

    tracking.log_dataset("image-data", data_dir, tracking.digest_of(data_dir), context="training")
    tracking.log_base_model(read_reference(base_dir, config.lm_model))
    summary = train_stage1(config, data_dir, model_out, progress)
    mlflow.log_metrics(summary)
    (Path(model_out) / "training.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    digest = tracking.write_lineage_and_log_output(model_out)
    return {"digest": digest, **summary}


def stage2_and_track(config: Stage2Config, data_dir: str, stage1_dir: str, model_out: str) -> dict:
    from components.train_diffusion.stage2 import train_stage2

    tracking.log_dataset("image-data", data_dir, tracking.digest_of(data_dir), context="training")
    tracking.log_model_input("pigeon-stage1", stage1_dir)
    summary = train_stage2(config, data_dir, stage1_dir, model_out, progress)
    mlflow.log_metrics(summary)
    (Path(model_out) / "training.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    digest = tracking.write_lineage_and_log_output(model_out)
    return {"digest": digest, **summary}


def evaluator_and_track(config: EvaluatorConfig, data_dir: str, out_dir: str) -> dict:
    from components.train_diffusion.data import ImageData
    from components.train_diffusion.heldout import save_evaluator, train_evaluator

    tracking.log_dataset("image-data", data_dir, tracking.digest_of(data_dir), context="training")
    data = ImageData(data_dir)
    present = data.present
    images, genres = data.images[present], data.genres[present]
    model, record = train_evaluator(images, genres, config.evaluator_epochs, config.evaluator_seed)
    for epoch, loss in enumerate(record["evaluator_losses"]):
        progress("evaluator", epoch + 1, {"evaluator_loss": loss})
    summary = {k: v for k, v in record.items() if not isinstance(v, list)}
    mlflow.log_metrics(summary)
    save_evaluator(model, record, out_dir)
    digest = tracking.write_lineage_and_log_output(out_dir)
    return {"digest": digest, **summary}


def evaluate_and_track(
    config: ImageEvalConfig, variant: str, data_dir: str, model_dir: str, evaluator_dir: str, out_dir: str
) -> dict:
    from components.train_diffusion.evaluation import evaluate_variant

    tracking.log_dataset("image-data", data_dir, tracking.digest_of(data_dir), context="evaluation")
    tracking.log_model_input(variant, model_dir)
    tracking.log_model_input("heldout-evaluator", evaluator_dir)
    record = evaluate_variant(config, variant, data_dir, model_dir, evaluator_dir, out_dir)
    mlflow.log_metrics({**record["metrics"], "eval_seconds": record["seconds"], "eval_windows": record["windows"]})
    mlflow.log_metrics({f"target_poster_{k}": v for k, v in record["target_poster"].items()})
    mlflow.log_artifacts(out_dir, artifact_path="evaluation")
    tracking.log_output("evaluation", str(Path(out_dir).resolve()), tracking.digest_of(out_dir))
    return record["metrics"]


def training_summary(model_dirs: list[str]) -> dict[str, float]:
    """The numbers both stages left in their model folders' training.json."""
    found: dict[str, float] = {}
    for folder in model_dirs:
        path = Path(folder) / "training.json"
        if path.is_file():
            found.update(json.loads(path.read_text(encoding="utf-8")))
    return found


def report_and_track(evaluations: list[str], model_dirs: list[str], report_path: str, out_dir: str) -> dict[str, float]:
    from components.common.atomic import atomic_dir
    from components.train_diffusion.report import markdown, read_all, write_grid

    evals = read_all(evaluations)
    text = markdown(evals, training_summary(model_dirs))
    with atomic_dir(out_dir) as tmp:
        (tmp / "report.md").write_text(text, encoding="utf-8")
        write_grid(evals, tmp / "grid.png")
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(text, encoding="utf-8")
    mlflow.log_artifacts(out_dir)
    finals = {
        f"{v.replace('-', '_')}_{k}": r["record"]["metrics"][k]
        for v, r in evals.items()
        for k in r["record"]["metrics"]
    }
    mlflow.log_metrics(finals)
    tracking.log_output("comparison", str(Path(out_dir).resolve()), tracking.digest_of(out_dir))
    return finals
