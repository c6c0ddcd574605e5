"""The `kg-embedding` steps as plain functions (NFE, Xiao, He, Cao, AAAI 2023, beside PyKEEN): prepare a KG folder,
train one model (ours or PyKEEN's) keeping its best validation epoch, evaluate it on test with filtered ranking."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from components.common.atomic import atomic_dir
from components.common.errors import ConfigError
from components.train_kge import graph as kg
from components.train_kge import pykeen_side, ranking, raw
from components.train_kge.config import KGDataConfig, KGEConfig
from components.train_kge.models import MODELS, KGEModel
from components.train_kge.train import TrainSettings, device, known_index, scorer_of, train

ALL_MODELS = (*MODELS, *pykeen_side.PYKEEN_MODELS)
MODEL_FILE = "kge_model.pt"
INFO_FILE = "training.json"


def check_model(name: str) -> None:
    if name not in ALL_MODELS:
        raise ConfigError("models", f"unknown model {name!r}; expected one of {', '.join(ALL_MODELS)}")


def prepare_kg(config: KGDataConfig, out_dir: str | Path) -> dict:
    """Read and check the KG folder, write its tables into `out_dir` (atomically); returns the stats."""
    folder = Path(config.kg_data_dir).expanduser() if config.kg_data_dir.strip() else raw.default_folder()
    prepared = raw.prepare(folder, config.kg_unseen)
    with atomic_dir(out_dir) as tmp:
        kg.write(prepared.graph, tmp, prepared.stats)
    return prepared.stats


def train_model(
    name: str,
    config: KGEConfig,
    kg_dir: str | Path,
    out_dir: str | Path,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> dict:
    """Train `name` on the prepared KG; save its best-validation state and training record into `out_dir`."""
    check_model(name)
    graph = kg.read(kg_dir)
    settings = TrainSettings.of(config)
    started = time.time()
    pykeen_valid: dict = {}
    if name in MODELS:
        model, history = train(name, graph, settings, on_epoch)
        params = sum(p.numel() for p in model.parameters())
    else:
        model, history, pykeen_valid = pykeen_side.train(name, graph, settings, config.kge_pykeen_negatives, on_epoch)
        params = sum(p.numel() for p in model.parameters())
    record = {
        "model": name,
        "parameters": int(params),
        "valid_mrr": history.valid_mrr,
        "loss": history.loss,
        "epoch_seconds": history.seconds,
        "best_epoch": history.best_epoch,
        "best_valid_mrr": history.best_valid_mrr,
        "train_seconds": time.time() - started,
        "pykeen_last_valid": pykeen_valid,  # PyKEEN's own evaluator on valid, last epoch
    }
    with atomic_dir(out_dir) as tmp:
        if name in MODELS:
            torch.save(
                {
                    "name": name,
                    "n_entities": graph.n_entities,
                    "n_relations": graph.n_relations,
                    "dim": settings.dim,
                    "gamma": model.gamma,
                    "state_dict": model.state_dict(),
                },
                tmp / MODEL_FILE,
            )
        else:
            pykeen_side.save(model, tmp)
        (tmp / INFO_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def load_model(model_dir: str | Path) -> tuple[str, object]:
    """(name, model) of a trained model folder."""
    folder = Path(model_dir)
    record = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    name = record["model"]
    if name in MODELS:
        saved = torch.load(folder / MODEL_FILE, map_location="cpu", weights_only=True)
        model = KGEModel(name, saved["n_entities"], saved["n_relations"], saved["dim"], saved["gamma"])
        model.load_state_dict(saved["state_dict"])
        model.to(device()).eval()
        return name, model
    return name, pykeen_side.load(folder)


def evaluate_model(config: KGEConfig, kg_dir: str | Path, model_dir: str | Path) -> dict:
    """Filtered test metrics of a trained model over both directions: ours for our models; for PyKEEN's, PyKEEN's
    own evaluator's, and with `kge_check_evaluator` ours beside them (`ours_*`, `evaluator_gap_mrr`)."""
    graph = kg.read(kg_dir)
    name, model = load_model(model_dir)
    record = json.loads((Path(model_dir) / INFO_FILE).read_text(encoding="utf-8"))
    known = known_index(graph)
    result: dict = {"model": name}
    if name in MODELS or config.kge_check_evaluator:
        started = time.time()
        scorer = scorer_of(model) if name in MODELS else pykeen_side.scorer_of(model, len(graph.relations))
        ours = ranking.evaluate(scorer, graph.splits["test"], known, graph.n_relations, config.kge_eval_batch)
        result.update({**ours, "ours_seconds": time.time() - started})
    if name not in MODELS:
        started = time.time()
        theirs = pykeen_side.evaluate_test(model, graph, config.kge_eval_batch)
        if config.kge_check_evaluator:
            result.update({f"ours_{k}": result[k] for k in ("mrr", "mr", "hits_1", "hits_3", "hits_10")})
            result["evaluator_gap_mrr"] = abs(theirs["mrr"] - result["mrr"])
        result.update(theirs)  # PyKEEN's evaluator gives the reported numbers
        result["pykeen_seconds"] = time.time() - started
    result.update(
        {
            "best_epoch": record["best_epoch"],
            "best_valid_mrr": record["best_valid_mrr"],
            "parameters": record["parameters"],
            "train_seconds": record["train_seconds"],
        }
    )
    return result
