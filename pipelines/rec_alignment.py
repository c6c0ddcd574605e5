"""rec-alignment: prepare -> SASRec oracle -> SFT -> RosePO preference pairs -> one aligned model per loss
(dsl.ParallelFor over `losses`) -> evaluate SFT and every aligned model -> compare -> register the best."""

from typing import Any, NamedTuple

from kfp import dsl

from components.align.component import align_model, register_best
from components.align.config import AlignConfig
from components.build_preferences.component import build_preferences
from components.build_preferences.config import PreferenceConfig
from components.evaluate.config import EvalConfig
from components.prepare_data.config import PrepareConfig
from components.train_baseline.component import train_sasrec
from components.train_baseline.config import SASRecConfig
from components.train_sft.component import train_sft
from components.train_sft.config import SFTConfig
from pipelines.accelerators import pipeline_config
from pipelines.checks import check_losses
from pipelines.cluster import configure
from pipelines.params import Parameters, pick
from pipelines.settings import CompileSettings
from pipelines.steps import evaluate, prepare, resolve_base

NAME = "rec-alignment"
DESCRIPTION = (
    "prepare -> SASRec oracle + SFT -> RosePO pairs -> DPO/SimPO/alpha-DPO/RosePO in parallel -> evaluate,"
    " register the best"
)
PARAMETERS = Parameters(
    (PrepareConfig, SASRecConfig, SFTConfig, PreferenceConfig, AlignConfig, EvalConfig),
    extra={
        "losses": (
            list,
            ["dpo", "simpo", "alpha_dpo", "rosepo"],
            "one aligned model per name (JSON list or comma-separated)",
        ),
        "registered_name": (
            str,
            "recforge-aligned-recommender",
            "MLflow registry name of the best model",
        ),
        "selection_metric": (str, "ndcg_10", "metric that picks the best model"),
    },
    exclude=("align_loss",),  # filled by the loop over `losses`
    per_gpu=("sft_nproc", "align_nproc"),  # torchrun: one process per GPU of the step
    per_node=("sft_nodes", "align_nodes"),  # compile --nodes: a TrainJob across nodes
)
KEY_METRICS = ("hr_10", "ndcg_10", "mrr", "valid_ratio", "hallucination_rate", "avg_pop")
CHECKS = (check_losses,)


class Outputs(NamedTuple):
    dataset: dsl.Dataset
    preferences: dsl.Dataset
    report: dsl.Markdown


def build(settings: CompileSettings) -> Any:
    """The rec-alignment pipeline built with `settings`."""

    @dsl.pipeline(name=NAME, description=DESCRIPTION, pipeline_config=pipeline_config(settings.gpu))
    @PARAMETERS.signature(settings)
    def rec_alignment_pipeline(**args) -> Outputs:
        run = {"pipeline": NAME}
        align_args = pick(args, AlignConfig, exclude=("align_loss",))

        # 1. Prepare the dataset.
        prepared = prepare(args, settings, run)
        data = prepared.outputs["prepared"]
        base = resolve_base(args, settings, run).outputs["model"]

        # 2. The SASRec preference oracle and the SFT model (independent).
        sasrec = configure(train_sasrec(**run, prepared=data, **pick(args, SASRecConfig)), "train", settings)
        sft = configure(
            train_sft(**run, prepared=data, base=base, **pick(args, SFTConfig)),
            "gpu",
            settings,
        )
        sft_model = sft.outputs["model"]

        # 3. RosePO preference pairs with oracle smoothing factors.
        pairs = build_preferences(
            **run,
            prepared=data,
            sft_model=sft_model,
            sasrec_model=sasrec.outputs["model"],
            **pick(args, PreferenceConfig),
        )
        configure(pairs, "evaluate", settings)

        # 4. One aligned model per loss, each evaluated on the same users and candidates.
        with dsl.ParallelFor(args["losses"], parallelism=settings.loop_parallelism) as loss:
            aligned = align_model(
                **run,
                preferences=pairs.outputs["preferences"],
                sft_model=sft_model,
                align_loss=loss,
                **align_args,
            )
            configure(aligned, "gpu", settings)
            evaluated = evaluate(args, settings, run, loss, data, aligned.outputs["model"], display_name=False)

        # 5. The SFT model on the same evaluation, for reference.
        sft_eval = evaluate(args, settings, run, "sft", data, sft_model)

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
        configure(report, "light", settings, caching=False)  # registers a model version: always runs

        return Outputs(dataset=data, preferences=pairs.outputs["preferences"], report=report.outputs["report"])

    return rec_alignment_pipeline
