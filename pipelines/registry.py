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
    loop_params: tuple[str, ...] = ()  # config fields filled inside the DAG (e.g. by a ParallelFor), not parameters
    checks: tuple[str, ...] = ()  # "module:function" validating the full parameter dict before a run

    def load(self, fresh: bool = False) -> Any:
        """The KFP pipeline object (a GraphComponent); `fresh` re-reads the module (its environment settings)."""
        module = importlib.import_module(self.module)
        if fresh:
            module = importlib.reload(module)
        return getattr(module, self.function)

    def run_checks(self, params: dict[str, Any]) -> None:
        for ref in self.checks:
            module, _, function = ref.partition(":")
            getattr(importlib.import_module(module), function)(params)

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
        Entry(
            "rec-alignment",
            "pipelines.rec_alignment",
            "rec_alignment_pipeline",
            "prepare -> SASRec oracle + SFT -> RosePO pairs -> DPO/SimPO/alpha-DPO/RosePO in parallel -> evaluate,"
            " register the best",
            (
                "components.prepare_data.config:PrepareConfig",
                "components.train_baseline.config:SASRecConfig",
                "components.train_sft.config:SFTConfig",
                "components.build_preferences.config:PreferenceConfig",
                "components.align.config:AlignConfig",
                "components.evaluate.config:EvalConfig",
            ),
            ("hr_10", "ndcg_10", "mrr", "valid_ratio", "hallucination_rate", "avg_pop"),
            loop_params=("align_loss",),
            checks=("pipelines.checks:check_losses",),
        ),
        Entry(
            "realtime-icl",
            "pipelines.realtime_icl",
            "realtime_icl_pipeline",
            "RecICL tuned once, served by refreshing in-context demonstrations; AUC/UAUC per later window",
            (
                "components.prepare_data.config:PrepareConfig",
                "components.train_sft.config:SFTConfig",
                "components.train_sft.icl_config:ICLConfig",
            ),
            ("auc", "uauc"),
        ),
        Entry(
            "ilora",
            "pipelines.ilora",
            "ilora_pipeline",
            "prepare -> SASRec -> iLoRA (gated LoRA experts) and LoRA of the same rank -> evaluate both -> report",
            (
                "components.prepare_data.config:PrepareConfig",
                "components.train_baseline.config:SASRecConfig",
                "components.train_sft.config:SFTConfig",
                "components.train_sft.ilora_config:ILoRAConfig",
                "components.evaluate.config:EvalConfig",
            ),
            ("hr_1", "hr_10", "ndcg_10", "valid_ratio"),
        ),
        Entry(
            "knowledge-edit",
            "pipelines.knowledge_edit",
            "knowledge_edit_pipeline",
            "facts about catalogue items -> a model that knows them -> C0 -> AlphaEdit and MEMIT sequences -> report",
            (
                "components.prepare_data.config:PrepareConfig",
                "components.edit_knowledge.config:FactConfig",
                "components.edit_knowledge.config:EditConfig",
            ),
            ("efficacy", "generalization", "specificity", "fluency"),
            checks=("pipelines.checks:check_methods",),
        ),
        Entry(
            "pigeon",
            "pipelines.pigeon",
            "pigeon_pipeline",
            "item images and user windows -> Pigeon stage 1 (masked reconstruction) -> stage 2 (Diffusion-DPO) ->"
            " evaluate against no-history -> report with grid",
            (
                "components.prepare_data.config:PrepareConfig",
                "components.train_diffusion.config:ImageDataConfig",
                "components.train_diffusion.config:Stage1Config",
                "components.train_diffusion.config:Stage2Config",
                "components.train_diffusion.config:ImageEvalConfig",
            ),
            ("history_similarity", "history_ssim", "target_similarity"),
        ),
    )
}


def get(name: str) -> Entry:
    if name not in PIPELINES:
        raise ConfigError("pipeline", f"unknown pipeline {name!r}; expected one of {', '.join(PIPELINES)}")
    return PIPELINES[name]
