"""KFP wrappers of the knowledge-edit steps (logic in core.py, body.py, sequence.py)."""

from kfp import dsl

from components.common.images import RUNTIME_IMAGE, TRAINING_IMAGE
from components.common.wrapper import step_component
from components.edit_knowledge.config import EditConfig, FactConfig


@step_component(FactConfig, base_image=TRAINING_IMAGE)
def build_fact_model(
    pipeline: str,
    prepared: dsl.Input[dsl.Dataset],
    base: dsl.Input[dsl.Model],
    model: dsl.Output[dsl.Model],
    facts: dsl.Output[dsl.Dataset],
    **settings,
):
    """The fact set (catalogue or world facts), counterfactual edit requests, and a model that knows the facts."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.edit_knowledge.body import fact_model_and_track
    from components.edit_knowledge.config import FactConfig

    result = run_step(
        pipeline, "build-fact-model", (FactConfig,), settings,
        lambda c: fact_model_and_track(c, prepared.path, base.path, model.path, facts.path),
    )  # fmt: skip
    model.metadata.update(result)


@step_component(EditConfig, base_image=TRAINING_IMAGE)
def edit_statistics(
    pipeline: str,
    model: dsl.Input[dsl.Model],
    facts: dsl.Input[dsl.Dataset],
    stats: dsl.Output[dsl.Artifact],
    **settings,
):
    """C0 = Σ k kᵀ of the preserved knowledge at every edited layer (cached by model, layer and corpus)."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.edit_knowledge.body import statistics_and_track
    from components.edit_knowledge.config import EditConfig

    result = run_step(
        pipeline, "edit-statistics", (EditConfig,), settings,
        lambda c: statistics_and_track(c, model.path, facts.path, stats.path),
    )  # fmt: skip
    stats.metadata.update({"tokens": result["tokens"], "null_space_dims": result["null_space_dims"]})


@step_component(EditConfig, base_image=TRAINING_IMAGE)
def edit_model(
    pipeline: str,
    method: str,
    model: dsl.Input[dsl.Model],
    facts: dsl.Input[dsl.Dataset],
    stats: dsl.Input[dsl.Artifact],
    edited_model: dsl.Output[dsl.Model],
    evaluation: dsl.Output[dsl.Artifact],
    metrics: dsl.Output[dsl.Metrics],
    **settings,
):
    """The whole sequence of edits with one method (alphaedit or memit), evaluated after every batch."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.edit_knowledge.body import edits_and_track
    from components.edit_knowledge.config import EditConfig

    result = run_step(
        pipeline, f"edit-{method}", (EditConfig,), settings,
        lambda c: edits_and_track(c, method, model.path, facts.path, stats.path, edited_model.path, evaluation.path),
        tags={"recforge.method": method}, extras=("method",),
    )  # fmt: skip
    evaluation.metadata.update({"method": method, **result})
    from components.common.kfp_outputs import log_scalars

    log_scalars(metrics, result)


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def compare_edits(
    pipeline: str,
    evaluations: dsl.Input[list[dsl.Artifact]],
    stats: dsl.Input[dsl.Artifact],
    report: dsl.Output[dsl.Markdown],
    comparison: dsl.Output[dsl.Artifact],
    html: dsl.Output[dsl.HTML],
):
    """Final metrics of every method, the per-batch table and the curves' plot."""
    from components.common.step import run_step
    from components.edit_knowledge.body import report_and_track

    run_step(
        pipeline, "compare-edits", (), {"report": report, "comparison": comparison, "html": html},
        lambda: report_and_track([e.path for e in evaluations], stats.path, report.path, comparison.path),
    )  # fmt: skip
    from components.common.kfp_outputs import write_html

    write_html(report.path, html.path, "knowledge-edit", extra_images=[f"{comparison.path}/edit_curves.png"])
