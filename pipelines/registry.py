"""The pipelines recforge knows: name -> where its DAG lives, what it is for, which configs it takes."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from components.common.errors import ConfigError


@dataclass(frozen=True)
class Entry:
    """One pipeline: its module and function, a one-line description, its step configs, its key metrics."""

    name: str
    module: str
    function: str
    description: str
    configs: tuple[str, ...]  # "package.module:Class" of the step configs its parameters feed
    key_metrics: tuple[str, ...]

    def load(self) -> Any:
        """The KFP pipeline object (a GraphComponent)."""
        return getattr(importlib.import_module(self.module), self.function)

    def config_classes(self) -> list[type]:
        classes = []
        for ref in self.configs:
            module, _, cls = ref.partition(":")
            classes.append(getattr(importlib.import_module(module), cls))
        return classes


PIPELINES: dict[str, Entry] = {
    entry.name: entry
    for entry in (
        Entry(
            "prepare-data",
            "pipelines.prepare_data",
            "prepare_data_pipeline",
            "raw MovieLens / Last.fm / Amazon files -> Parquet tables, splits, candidates and a data report",
            ("components.prepare_data.config:PrepareConfig",),
            ("users", "catalogue_items", "interactions", "splits_train_rows", "splits_test_rows"),
        ),
        Entry(
            "sft-rec",
            "pipelines.sft_rec",
            "sft_rec_pipeline",
            "prepare -> popularity, SASRec and LoRA-SFT LLM recommender -> evaluate each -> comparison report",
            (
                "components.prepare_data.config:PrepareConfig",
                "components.train_baseline.config:SASRecConfig",
                "components.train_sft.config:SFTConfig",
                "components.evaluate.config:EvalConfig",
            ),
            ("hr_10", "ndcg_10", "mrr", "valid_ratio", "hallucination_rate", "avg_pop"),
        ),
    )
}


def get(name: str) -> Entry:
    if name not in PIPELINES:
        raise ConfigError("pipeline", f"unknown pipeline {name!r}; expected one of {', '.join(PIPELINES)}")
    return PIPELINES[name]
