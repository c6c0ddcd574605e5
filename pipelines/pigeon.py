"""pigeon: prepare -> item images (rendered posters or a folder) and user windows -> stage 1 (masked preference
reconstruction) -> stage 2 (Diffusion-DPO on history-similarity pairs) -> evaluate Pigeon, Pigeon stage 1 and the
no-history baseline on held-out users, also with an evaluator trained apart -> report with the picture grid."""

from typing import Any, NamedTuple

from kfp import dsl

from components.prepare_data.config import PrepareConfig
from components.train_diffusion.component import (
    evaluate_images,
    image_data,
    pigeon_report,
    pigeon_stage1,
    pigeon_stage2,
    train_evaluator,
)
from components.train_diffusion.config import (
    EvaluatorConfig,
    ImageDataConfig,
    ImageEvalConfig,
    Stage1Config,
    Stage2Config,
)
from pipelines.cluster import configure
from pipelines.params import Parameters, pick
from pipelines.settings import CompileSettings
from pipelines.steps import prepare, resolve_base

NAME = "pigeon"
DESCRIPTION = (
    "item images and user windows -> Pigeon stage 1 (masked reconstruction) -> stage 2 (Diffusion-DPO) ->"
    " evaluate against no-history -> report with grid"
)
PARAMETERS = Parameters(
    (PrepareConfig, ImageDataConfig, Stage1Config, Stage2Config, EvaluatorConfig, ImageEvalConfig),
)
KEY_METRICS = ("history_similarity_heldout", "diversity_heldout", "history_similarity", "history_ssim")


class Outputs(NamedTuple):
    model: dsl.Model
    report: dsl.Markdown


def build(settings: CompileSettings) -> Any:
    """The pigeon pipeline built with `settings`."""

    @dsl.pipeline(name=NAME, description=DESCRIPTION)
    @PARAMETERS.signature(settings)
    def pigeon_pipeline(**args) -> Outputs:
        run = {"pipeline": NAME}
        eval_args = pick(args, ImageEvalConfig)

        # 1. Prepare the dataset (titles and genres of the catalogue, every user's interactions in time order).
        prepared = prepare(args, settings, run)

        # 2. User windows and an image per item: rendered posters, or the given folder of images.
        data = configure(
            image_data(**run, prepared=prepared.outputs["prepared"], **pick(args, ImageDataConfig)), "data", settings
        )

        # 3. Stage 1: encoder and autoencoder, then masked preference reconstruction, on the resolved LM.
        base = resolve_base(args, settings, run, parameter="lm_model").outputs["model"]
        stage1 = configure(
            pigeon_stage1(**run, data=data.outputs["data"], base=base, **pick(args, Stage1Config)), "gpu-1", settings
        )

        # 4. Stage 2: Diffusion-DPO on pairs of stage-1 generations ranked by history similarity.
        stage2 = pigeon_stage2(
            **run, data=data.outputs["data"], stage1=stage1.outputs["model"], **pick(args, Stage2Config)
        )
        configure(stage2, "gpu-1", settings)

        # 5. The held-out evaluator: an image encoder trained apart, read only by the evaluate steps.
        evaluator = train_evaluator(**run, data=data.outputs["data"], **pick(args, EvaluatorConfig))
        configure(evaluator, "evaluate", settings)

        # 6. The three variants on the same held-out windows and noise.
        evaluations = {}
        for variant, model in (
            ("pigeon-stage1", stage1.outputs["model"]),
            ("no-history", stage1.outputs["model"]),
            ("pigeon", stage2.outputs["model"]),
        ):
            task = evaluate_images(
                **run,
                variant=variant,
                data=data.outputs["data"],
                model=model,
                evaluator=evaluator.outputs["evaluator"],
                **eval_args,
            )
            evaluations[variant] = configure(task.set_display_name(f"evaluate-{variant}"), "evaluate", settings)

        # 7. One report: the table, paired differences and the grid.
        report = pigeon_report(
            **run,
            stage1_eval=evaluations["pigeon-stage1"].outputs["evaluation"],
            no_history_eval=evaluations["no-history"].outputs["evaluation"],
            pigeon_eval=evaluations["pigeon"].outputs["evaluation"],
            stage1=stage1.outputs["model"],
            stage2=stage2.outputs["model"],
        )
        configure(report, "light", settings)
        return Outputs(model=stage2.outputs["model"], report=report.outputs["report"])

    return pigeon_pipeline
