"""sft-rec: prepare a dataset, resolve the base LLM, train popularity, SASRec and a LoRA-SFT LLM recommender,
evaluate all three and the untuned base LLM on the same candidates, and compare them in one report."""

from typing import Any, NamedTuple

from kfp import dsl

from components.evaluate.component import compare_models
from components.evaluate.config import EvalConfig
from components.prepare_data.config import PrepareConfig
from components.train_baseline.component import train_popularity, train_sasrec
from components.train_baseline.config import SASRecConfig
from components.train_sft.component import train_sft
from components.train_sft.config import SFTConfig
from pipelines.accelerators import pipeline_config
from pipelines.cluster import configure
from pipelines.params import Parameters, pick
from pipelines.settings import CompileSettings
from pipelines.steps import evaluate, prepare, resolve_base

NAME = "sft-rec"
DESCRIPTION = (
    "prepare, base LLM -> popularity, SASRec and LoRA-SFT LLM recommender -> evaluate each and the untuned LLM"
    " -> comparison report"
)
PARAMETERS = Parameters(
    (PrepareConfig, SASRecConfig, SFTConfig, EvalConfig),
    per_gpu=("sft_nproc",),
    per_node=("sft_nodes",),
)
KEY_METRICS = ("hr_10", "ndcg_10", "mrr", "valid_ratio", "hallucination_rate", "avg_pop")


class Outputs(NamedTuple):
    dataset: dsl.Dataset
    sft_model: dsl.Model
    report: dsl.Markdown


def build(settings: CompileSettings) -> Any:
    """The sft-rec pipeline built with `settings`."""

    @dsl.pipeline(name=NAME, description=DESCRIPTION, pipeline_config=pipeline_config(settings.gpu))
    @PARAMETERS.signature(settings)
    def sft_rec_pipeline(**args) -> Outputs:
        run = {"pipeline": NAME}

        # 1. Prepare the dataset (splits and candidate sets shared by every model); resolve the base LLM.
        prepared = prepare(args, settings, run)
        data = prepared.outputs["prepared"]
        base = resolve_base(args, settings, run).outputs["model"]

        # 2. Train the models; none depends on another.
        popularity = configure(train_popularity(**run, prepared=data), "light", settings)
        sasrec = configure(train_sasrec(**run, prepared=data, **pick(args, SASRecConfig)), "train", settings)
        sft = configure(
            train_sft(**run, prepared=data, base=base, **pick(args, SFTConfig)),
            "gpu",
            settings,
        )

        # 3. Evaluate each, and the untuned base LLM, on the same users and candidates.
        models = {name: task.outputs["model"] for name, task in (("popularity", popularity), ("sasrec", sasrec))}
        models.update(sft=sft.outputs["model"], untuned=base)
        evaluations = {}
        for name, model in models.items():
            evaluations[name] = evaluate(args, settings, run, name, data, model)

        # 4. One report comparing them.
        report = compare_models(
            **run,
            title="sft-rec: popularity vs SASRec vs LoRA-SFT LLM vs the untuned LLM",
            first=evaluations["popularity"].outputs["evaluation"],
            second=evaluations["sasrec"].outputs["evaluation"],
            third=evaluations["sft"].outputs["evaluation"],
            fourth=evaluations["untuned"].outputs["evaluation"],
        )
        configure(report, "light", settings)

        return Outputs(dataset=data, sft_model=sft.outputs["model"], report=report.outputs["report"])

    return sft_rec_pipeline
