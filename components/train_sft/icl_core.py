"""RecICL training: Yes/No in-context samples from a time range, trained with the SFT step's machinery.

`train_icl` trains on the queries of the windows before `up_to_window` (1 = the training window only; w = all
data before window w, the "retrained" upper bound). `demos` = 0 gives the plain, non-ICL SFT baseline on the
same questions. The model folder records its format (`model.json`: kind "icl", demos, history length,
threshold, domain) so evaluation rebuilds the same prompts.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from components.common.errors import DataError
from components.common.prepared import Prepared
from components.recsys.icl_config import ICLConfig
from components.recsys.prompts import DOMAINS, uses_chat
from components.recsys.recicl import UserTimeline, as_turns, build_samples, windows
from components.train_sft.config import SFTConfig

log = logging.getLogger(__name__)


def training_queries(
    timeline: UserTimeline, bounds: np.ndarray, up_to_window: int, limit: int, seed: int
) -> np.ndarray:
    """Interaction indices before window `up_to_window` (window 0 is training), a seeded sample of `limit`."""
    inside = np.flatnonzero(timeline.timestamp < bounds[up_to_window])
    if len(inside) > limit:
        inside = np.sort(np.random.default_rng([seed, up_to_window]).choice(inside, limit, replace=False))
    return inside


def train_icl(
    sft: SFTConfig,
    icl: ICLConfig,
    dataset_dir: str | Path,
    out_dir: str | Path,
    *,
    up_to_window: int = 1,
    demos: int | None = None,
    progress: bool | None = None,
    mlflow_run_id: str | None = None,
    callbacks: Any = (),
) -> dict:
    """Train the RecICL (or, with demos=0, the plain) model on data before window `up_to_window`."""
    import dataclasses

    from datasets import Dataset

    from components.common.models import load_base_model
    from components.recsys.icl_scoring import yes_token
    from components.train_sft.trainer import fit, sft_checkpoint_dir
    from components.train_sft.yes_no import YesLogitSFTTrainer

    data = Prepared(dataset_dir)
    demos = icl.icl_demos if demos is None else demos
    sft = dataclasses.replace(sft, sft_epochs=icl.icl_epochs, sft_max_length=icl.icl_max_length)
    domain = DOMAINS.get(data.stats["dataset"], "movie")
    timeline, bounds = windows(data, icl)
    queries = training_queries(timeline, bounds, up_to_window, icl.icl_max_examples, icl.icl_seed)
    samples = build_samples(timeline, data.titles, queries, demos, icl.icl_history_len, domain)
    if len(samples.prompts) < 2 or samples.labels.min() == samples.labels.max():
        raise DataError(
            "interactions.parquet",
            f"{len(samples.prompts)} training samples before window {up_to_window} ({samples.left_out} queries had "
            f"fewer than {demos} earlier interactions); expected both liked and not-liked examples",
        )
    model, tokenizer = load_base_model(
        sft.base_model, corpus=data.titles, seed=sft.sft_seed, vocab_size=sft.sft_vocab_size
    )
    chat = uses_chat(tokenizer)
    turns = as_turns(samples.prompts, tokenizer, chat)
    fits = np.array([len(tokenizer(p).input_ids) + 2 <= sft.sft_max_length for p in turns])
    prompts = [p for p, ok in zip(turns, fits, strict=True) if ok]
    answers = ["Yes" if y else "No" for y in samples.labels[fits]]
    held = max(2, min(128, len(answers) // 10))
    train_ds = Dataset.from_dict({"prompt": prompts[held:], "completion": answers[held:]})
    eval_ds = Dataset.from_dict({"prompt": prompts[:held], "completion": answers[:held]})
    describe = {
        "kind": "icl",
        "base_model": sft.base_model,
        "demos": demos,
        "history_len": icl.icl_history_len,
        "like_threshold": icl.icl_like_threshold,
        "domain": domain,
        "chat": chat,
        "trained_before": int(bounds[up_to_window]),
    }
    counts = {
        "examples": len(train_ds),
        "left_out_queries": samples.left_out,
        "too_long_dropped": int((~fits).sum()),  # prompt + answer longer than sft_max_length tokens
        "positive_share": float(samples.labels.mean()),
    }
    key = {"icl": icl.to_params(), "window": up_to_window, "demos": demos}
    record = fit(
        sft,
        model,
        tokenizer,
        train_ds,
        eval_ds,
        sft_checkpoint_dir(sft, data, Path(out_dir), extra=key),
        Path(out_dir),
        describe=describe,
        counts=counts,
        trainer_class=YesLogitSFTTrainer,
        trainer_attrs={"yes_id": yes_token(tokenizer, prompts[0])},
        progress=progress,
        mlflow_run_id=mlflow_run_id,
        callbacks=callbacks,
    )
    log.info("RecICL (%d demos) trained on %d samples before %s", demos, len(train_ds), bounds[up_to_window])
    return record


def reuse_model(model_dir: str | Path, out_dir: str | Path) -> dict:
    """Copy an existing RecICL model folder to `out_dir` (scheduled runs that must not retrain)."""
    import shutil

    from components.common.atomic import atomic_dir

    source = Path(model_dir)
    info_path = source / "model.json"
    if not info_path.is_file() or json.loads(info_path.read_text()).get("kind") != "icl":
        raise DataError(info_path, "not a RecICL model folder; expected one written by train-recicl")
    with atomic_dir(out_dir) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)
    return json.loads(info_path.read_text())
