"""sft-rec: prepare a dataset, train popularity, SASRec and a LoRA-SFT LLM recommender, evaluate all three on
the same candidates, and compare them in one report."""

from typing import NamedTuple

from kfp import dsl

from components.evaluate.component import compare_models, evaluate_model
from components.evaluate.config import EvalConfig
from components.prepare_data.component import prepare_dataset
from components.prepare_data.config import PrepareConfig
from components.train_baseline.component import train_popularity, train_sasrec
from components.train_baseline.config import SASRecConfig
from components.train_sft.component import train_sft
from components.train_sft.config import SFTConfig
from pipelines.accelerators import pipeline_config
from pipelines.cluster import configure, schedule_time
from pipelines.params import parameters_of, pick

NAME = "sft-rec"


class Outputs(NamedTuple):
    dataset: dsl.Dataset
    sft_model: dsl.Model
    report: dsl.Markdown


@dsl.pipeline(
    name=NAME,
    description="LoRA SFT LLM recommender vs popularity and SASRec, evaluated side by side.",
    pipeline_config=pipeline_config(),  # a workspace for multi-node training (compile --nodes)
)
@parameters_of(PrepareConfig, SASRecConfig, SFTConfig, EvalConfig, per_gpu=("sft_nproc",), per_node=("sft_nodes",))
def sft_rec_pipeline(**args) -> Outputs:
    run = {"pipeline": NAME, "kfp_run_id": dsl.PIPELINE_JOB_ID_PLACEHOLDER}

    # 1. Prepare the dataset (splits and candidate sets shared by every model).
    prepared = configure(
        prepare_dataset(**run, schedule_time=schedule_time(), **pick(args, PrepareConfig)), "data", caching=True
    )
    data = prepared.outputs["prepared"]

    # 2. Train the models; none depends on another.
    popularity = configure(train_popularity(**run, prepared=data), "light")
    sasrec = configure(train_sasrec(**run, prepared=data, **pick(args, SASRecConfig)), "train")
    sft = configure(
        train_sft(**run, kfp_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER, prepared=data, **pick(args, SFTConfig)), "gpu"
    )

    # 3. Evaluate each on the same users and candidates.
    evaluations = {}
    for name, task in (("popularity", popularity), ("sasrec", sasrec), ("sft", sft)):
        evaluated = evaluate_model(
            **run, model_name=name, prepared=data, model=task.outputs["model"], **pick(args, EvalConfig)
        )
        evaluations[name] = configure(evaluated.set_display_name(f"evaluate-{name}"), "evaluate")

    # 4. One report comparing them.
    report = compare_models(
        **run,
        title="sft-rec: popularity vs SASRec vs LoRA-SFT LLM",
        first=evaluations["popularity"].outputs["evaluation"],
        second=evaluations["sasrec"].outputs["evaluation"],
        third=evaluations["sft"].outputs["evaluation"],
    )
    configure(report, "light")

    return Outputs(dataset=data, sft_model=sft.outputs["model"], report=report.outputs["report"])
