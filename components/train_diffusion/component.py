"""KFP wrappers of the pigeon steps (logic in data.py, stage1.py, stage2.py, evaluation.py, report.py)."""

from kfp import dsl

from components.common.images import RUNTIME_IMAGE, TRAINING_IMAGE
from components.common.wrapper import step_component
from components.train_diffusion.config import (
    EvaluatorConfig,
    ImageDataConfig,
    ImageEvalConfig,
    Stage1Config,
    Stage2Config,
)


@step_component(ImageDataConfig, base_image=RUNTIME_IMAGE)
def image_data(
    pipeline: str,
    prepared: dsl.Input[dsl.Dataset],
    data: dsl.Output[dsl.Dataset],
    **settings,
):
    """User windows (5 history + 1 target, users split 8:1:1) and an image per item, rendered or loaded."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.train_diffusion.body import image_data_and_track
    from components.train_diffusion.config import ImageDataConfig

    result = run_step(
        pipeline, "image-data", (ImageDataConfig,), settings,
        lambda c: image_data_and_track(c, prepared.path, data.path),
    )  # fmt: skip
    data.metadata.update({k: v for k, v in result.items() if k in ("users", "test_users", "images")})


@step_component(Stage1Config, base_image=TRAINING_IMAGE)
def pigeon_stage1(
    pipeline: str,
    data: dsl.Input[dsl.Dataset],
    base: dsl.Input[dsl.Model],
    model: dsl.Output[dsl.Model],
    **settings,
):
    """Encoder and autoencoder on the catalogue's images, then masked preference reconstruction."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.train_diffusion.body import stage1_and_track
    from components.train_diffusion.config import Stage1Config

    result = run_step(
        pipeline, "pigeon-stage1", (Stage1Config,), settings,
        lambda c: stage1_and_track(c, data.path, base.path, model.path),
        tags={"recforge.model": "pigeon-stage1"},
    )  # fmt: skip
    model.metadata.update({"digest": result["digest"], "stage1_final_loss": result["stage1_final_loss"]})


@step_component(Stage2Config, base_image=TRAINING_IMAGE)
def pigeon_stage2(
    pipeline: str,
    data: dsl.Input[dsl.Dataset],
    stage1: dsl.Input[dsl.Model],
    model: dsl.Output[dsl.Model],
    **settings,
):
    """History-similarity preference pairs from stage-1 samples, then Diffusion-DPO against stage 1."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.train_diffusion.body import stage2_and_track
    from components.train_diffusion.config import Stage2Config

    result = run_step(
        pipeline, "pigeon-stage2", (Stage2Config,), settings,
        lambda c: stage2_and_track(c, data.path, stage1.path, model.path),
        tags={"recforge.model": "pigeon"},
    )  # fmt: skip
    model.metadata.update({"digest": result["digest"], "stage2_final_loss": result["stage2_final_loss"]})


@step_component(EvaluatorConfig, base_image=TRAINING_IMAGE)
def train_evaluator(
    pipeline: str,
    data: dsl.Input[dsl.Dataset],
    evaluator: dsl.Output[dsl.Model],
    **settings,
):
    """The held-out evaluator: an image encoder trained apart from Pigeon, read only by the evaluate steps."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.train_diffusion.body import evaluator_and_track
    from components.train_diffusion.config import EvaluatorConfig

    result = run_step(
        pipeline, "train-evaluator", (EvaluatorConfig,), settings,
        lambda c: evaluator_and_track(c, data.path, evaluator.path),
        tags={"recforge.model": "heldout-evaluator"},
    )  # fmt: skip
    evaluator.metadata.update({"digest": result["digest"], "accuracy": result["evaluator_accuracy"]})


@step_component(ImageEvalConfig, base_image=TRAINING_IMAGE)
def evaluate_images(
    pipeline: str,
    variant: str,
    data: dsl.Input[dsl.Dataset],
    model: dsl.Input[dsl.Model],
    evaluator: dsl.Input[dsl.Model],
    evaluation: dsl.Output[dsl.Artifact],
    metrics: dsl.Output[dsl.Metrics],
    **settings,
):
    """Generate for held-out users' test windows; similarity to history and target in both encoders' spaces, SSIM."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.train_diffusion.body import evaluate_and_track
    from components.train_diffusion.config import ImageEvalConfig

    result = run_step(
        pipeline, f"evaluate-{variant}", (ImageEvalConfig,), settings,
        lambda c: evaluate_and_track(c, variant, data.path, model.path, evaluator.path, evaluation.path),
        tags={"recforge.model": variant}, extras=("variant",),
    )  # fmt: skip
    evaluation.metadata.update({"variant": variant, **result})
    from components.common.kfp_outputs import log_scalars

    log_scalars(metrics, result)


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def pigeon_report(
    pipeline: str,
    stage1_eval: dsl.Input[dsl.Artifact],
    no_history_eval: dsl.Input[dsl.Artifact],
    pigeon_eval: dsl.Input[dsl.Artifact],
    stage1: dsl.Input[dsl.Model],
    stage2: dsl.Input[dsl.Model],
    report: dsl.Output[dsl.Markdown],
    comparison: dsl.Output[dsl.Artifact],
    html: dsl.Output[dsl.HTML],
):
    """The three variants side by side, paired differences, training summary and the picture grid."""
    from components.common.step import run_step
    from components.train_diffusion.body import report_and_track

    evaluations = [stage1_eval.path, no_history_eval.path, pigeon_eval.path]
    run_step(
        pipeline, "pigeon-report", (), {"report": report, "comparison": comparison, "html": html},
        lambda: report_and_track(evaluations, [stage1.path, stage2.path], report.path, comparison.path),
    )  # fmt: skip
    from components.common.kfp_outputs import write_html

    write_html(report.path, html.path, "pigeon", image_dirs=[comparison.path])  # the picture grid, embedded
