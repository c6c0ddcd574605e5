"""KFP wrappers of the alignment step and of registering the best aligned model (logic in trainer.py, body.py,
register.py)."""

from kfp import dsl

from components.align.config import AlignConfig
from components.common.images import RUNTIME_IMAGE, TRAINING_IMAGE
from components.common.wrapper import step_component


@step_component(AlignConfig, base_image=TRAINING_IMAGE)
def align_model(
    pipeline: str,
    preferences: dsl.Input[dsl.Dataset],
    sft_model: dsl.Input[dsl.Model],
    model: dsl.Output[dsl.Model],
    **settings,
):
    """LoRA preference optimisation of the SFT model with one loss of the LOSSES table."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.align.body import align_and_track
    from components.align.config import AlignConfig
    from components.common.step import run_step

    loss = settings["align_loss"]
    result = run_step(
        pipeline, f"align-{loss}", (AlignConfig,), settings,
        lambda c: align_and_track(c, preferences.path, sft_model.path, model.path),
        tags={"recforge.model": loss},
    )  # fmt: skip
    model.metadata.update({"loss": loss, **result})


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def register_best(
    pipeline: str,
    registered_name: str,
    selection_metric: str,
    prepared: dsl.Input[dsl.Dataset],
    evaluations: dsl.Input[list[dsl.Artifact]],
    models: dsl.Input[list[dsl.Model]],
    sft_evaluation: dsl.Input[dsl.Artifact],
    sft_model: dsl.Input[dsl.Model],
    report: dsl.Output[dsl.Markdown],
    html: dsl.Output[dsl.HTML],
):
    """Compare every aligned model, then register the best one in the MLflow model registry with lineage tags."""
    from components.align.register import compare_and_register
    from components.common.step import run_step

    run_step(
        pipeline, "register-best", (), {"report": report, "html": html},
        lambda: compare_and_register(
            [sft_evaluation.path, *(e.path for e in evaluations)],
            [sft_model.path, *(m.path for m in models)],
            prepared.path, registered_name, selection_metric, report.path,
        ),
    )  # fmt: skip
    from components.common.kfp_outputs import write_html

    write_html(report.path, html.path, f"rec-alignment: {registered_name}")
