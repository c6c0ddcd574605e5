"""KFP wrappers of the evaluate step and the comparison report (logic in core.py and body.py; metrics on the
shared floor, components/recsys)."""

from kfp import dsl

from components.common.images import RUNTIME_IMAGE
from components.common.wrapper import step_component
from components.evaluate.config import EvalConfig
from components.recsys.icl_config import ICLConfig


@step_component(EvalConfig, base_image=RUNTIME_IMAGE)
def evaluate_model(
    pipeline: str,
    model_name: str,
    prepared: dsl.Input[dsl.Dataset],
    model: dsl.Input[dsl.Model],
    evaluation: dsl.Output[dsl.Artifact],
    metrics: dsl.Output[dsl.Metrics],
    **settings,
):
    """Rank each user's candidates with one model; ranking, generative and bias metrics to MLflow and the KFP UI."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.evaluate.body import evaluate_and_track
    from components.evaluate.config import EvalConfig

    result = run_step(
        pipeline,
        f"evaluate-{model_name}",
        (EvalConfig,),
        settings,
        lambda c: evaluate_and_track(model_name, model.path, prepared.path, c, evaluation.path),
        tags={"recforge.model": model_name},
        extras=("model_name",),
    )
    evaluation.metadata.update({"model": model_name, **result["metrics"]})
    from components.common.kfp_outputs import log_scalars

    log_scalars(metrics, result["metrics"])


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def compare_models(
    pipeline: str,
    title: str,
    report: dsl.Output[dsl.Markdown],
    html: dsl.Output[dsl.HTML],
    first: dsl.Input[dsl.Artifact],
    second: dsl.Input[dsl.Artifact] = None,
    third: dsl.Input[dsl.Artifact] = None,
    fourth: dsl.Input[dsl.Artifact] = None,
    fifth: dsl.Input[dsl.Artifact] = None,
    sixth: dsl.Input[dsl.Artifact] = None,
):
    """A Markdown table of every evaluated model side by side (also logged to MLflow)."""
    from components.common.step import run_step
    from components.evaluate.body import compare_and_track

    paths = [a.path for a in (first, second, third, fourth, fifth, sixth) if a is not None]
    run_step(
        pipeline, "compare-models", (), {"report": report, "html": html},
        lambda: compare_and_track(paths, report.path, title),
    )  # fmt: skip
    from components.common.kfp_outputs import write_html

    write_html(report.path, html.path, title)


@step_component(ICLConfig, base_image=RUNTIME_IMAGE)
def evaluate_realtime(
    pipeline: str,
    schedule_time: str,
    prepared: dsl.Input[dsl.Dataset],
    models: dsl.Input[dsl.Model],
    retrained: dsl.Input[dsl.Model],
    base: dsl.Input[dsl.Model],
    evaluation: dsl.Output[dsl.Artifact],
    report: dsl.Output[dsl.Markdown],
    html: dsl.Output[dsl.HTML],
    metrics: dsl.Output[dsl.Metrics],
    roc: dsl.Output[dsl.ClassificationMetrics],
    **settings,
):
    """AUC and UAUC per later window for RecICL, RecICL without demonstrations, plain SFT, the retrained bound and
    the untuned base model with the same demonstrations."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.evaluate.realtime_body import realtime_and_track
    from components.recsys.icl_config import ICLConfig

    def body(config: ICLConfig) -> dict:
        result = realtime_and_track(
            config, prepared.path, models.path, retrained.path, base.path, evaluation.path, schedule_time
        )
        import shutil

        shutil.copyfile(f"{evaluation.path}/report.md", report.path)
        return result

    result = run_step(pipeline, "evaluate-realtime", (ICLConfig,), settings, body)
    from components.common.kfp_outputs import log_roc, log_scalars, write_html

    log_scalars(metrics, result["scalars"])
    log_roc(roc, result["roc"])  # RecICL's scores pooled over the windows
    write_html(report.path, html.path, "realtime-icl", extra_images=[f"{evaluation.path}/auc_per_window.png"])
