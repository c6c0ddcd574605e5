"""rec-alignment: prepare -> SASRec oracle -> SFT -> RosePO preference pairs -> one aligned model per loss
(dsl.ParallelFor over `losses`) -> evaluate SFT and every aligned model -> compare -> register the best."""

from typing import NamedTuple

from kfp import dsl

from components.align.component import align_model, register_best
from components.align.config import AlignConfig
from components.build_preferences.component import build_preferences
from components.build_preferences.config import PreferenceConfig
from components.evaluate.component import evaluate_model
from components.evaluate.config import EvalConfig
from components.prepare_data.component import prepare_dataset
from components.prepare_data.config import PrepareConfig
from components.train_baseline.component import train_sasrec
from components.train_baseline.config import SASRecConfig
from components.train_sft.component import train_sft
from components.train_sft.config import SFTConfig
from pipelines.accelerators import pipeline_config
from pipelines.cluster import configure, loop_parallelism, schedule_time
from pipelines.params import parameters_of, pick

NAME = "rec-alignment"
DEFAULT_LOSSES = ["dpo", "simpo", "alpha_dpo", "rosepo"]


class Outputs(NamedTuple):
    dataset: dsl.Dataset
    preferences: dsl.Dataset
    report: dsl.Markdown


@dsl.pipeline(
    name=NAME,
    description="SFT, then DPO / SimPO / alpha-DPO / RosePO (and IPO) side by side, best one registered.",
    pipeline_config=pipeline_config(),  # a workspace for multi-node training (compile --nodes)
)
@parameters_of(
    PrepareConfig, SASRecConfig, SFTConfig, PreferenceConfig, AlignConfig, EvalConfig,
    extra={
        "losses": (list, DEFAULT_LOSSES),
        "registered_name": (str, "recforge-aligned-recommender"),
        "selection_metric": (str, "ndcg_10"),
    },
    exclude=("align_loss",),  # filled by the loop over `losses`
    per_gpu=("sft_nproc", "align_nproc"),  # torchrun: one process per GPU of the step
    per_node=("sft_nodes", "align_nodes"),  # compile --nodes: a TrainJob across nodes
)  # fmt: skip
def rec_alignment_pipeline(**args) -> Outputs:
    run = {"pipeline": NAME, "kfp_run_id": dsl.PIPELINE_JOB_ID_PLACEHOLDER}
    align_args = pick(args, AlignConfig, exclude=("align_loss",))

    # 1. Prepare the dataset.
    prepared = configure(
        prepare_dataset(**run, schedule_time=schedule_time(), **pick(args, PrepareConfig)), "data", caching=True
    )
    data = prepared.outputs["prepared"]

    # 2. The SASRec preference oracle and the SFT model (independent).
    sasrec = configure(train_sasrec(**run, prepared=data, **pick(args, SASRecConfig)), "train")
    sft = configure(
        train_sft(**run, kfp_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER, prepared=data, **pick(args, SFTConfig)), "gpu"
    )
    sft_model = sft.outputs["model"]

    # 3. RosePO preference pairs with oracle smoothing factors.
    pairs = build_preferences(
        **run, prepared=data, sft_model=sft_model, sasrec_model=sasrec.outputs["model"], **pick(args, PreferenceConfig)
    )
    configure(pairs, "evaluate")

    # 4. One aligned model per loss, each evaluated on the same users and candidates.
    with dsl.ParallelFor(args["losses"], parallelism=loop_parallelism()) as loss:
        aligned = align_model(
            **run,
            kfp_job_name=dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            preferences=pairs.outputs["preferences"],
            sft_model=sft_model,
            align_loss=loss,
            **align_args,
        )
        configure(aligned, "gpu")
        evaluated = evaluate_model(
            **run, model_name=loss, prepared=data, model=aligned.outputs["model"], **pick(args, EvalConfig)
        )
        configure(evaluated, "evaluate")

    # 5. The SFT model on the same evaluation, for reference.
    sft_eval = evaluate_model(**run, model_name="sft", prepared=data, model=sft_model, **pick(args, EvalConfig))
    configure(sft_eval.set_display_name("evaluate-sft"), "evaluate")

    # 6. Compare them all and register the best in the MLflow model registry.
    report = register_best(
        **run,
        registered_name=args["registered_name"],
        selection_metric=args["selection_metric"],
        prepared=data,
        evaluations=dsl.Collected(evaluated.outputs["evaluation"]),
        models=dsl.Collected(aligned.outputs["model"]),
        sft_evaluation=sft_eval.outputs["evaluation"],
        sft_model=sft_model,
    )
    configure(report, "light")

    return Outputs(dataset=data, preferences=pairs.outputs["preferences"], report=report.outputs["report"])
