"""KFP wrappers of the `kg-embedding` steps (NFE and PyKEEN; logic in core.py, tracking in body.py)."""

from kfp import dsl

from components.common.images import RUNTIME_IMAGE, TRAINING_IMAGE
from components.common.wrapper import step_component
from components.train_kge.config import KGDataConfig, KGEConfig


@step_component(KGDataConfig, base_image=RUNTIME_IMAGE)
def prepare_kg(pipeline: str, kg: dsl.Output[dsl.Dataset], **settings):
    """Read train/valid/test triples, index them densely, add reciprocals, write Arrow tables and stats."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.train_kge.body import prepare_and_track
    from components.train_kge.config import KGDataConfig

    stats = run_step(pipeline, "prepare-kg", (KGDataConfig,), settings, lambda c: prepare_and_track(c, kg.path))
    kg.metadata.update({k: v for k, v in stats.items() if isinstance(v, int)})


@step_component(KGEConfig, base_image=TRAINING_IMAGE)
def train_kge_model(
    pipeline: str, kg: dsl.Input[dsl.Dataset], model_name: str, model: dsl.Output[dsl.Model], **settings
):
    """One KGE model (NFE-1/2/3, an ablation, TransE, DistMult or a PyKEEN model), 1-N training, best validation
    epoch kept."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.train_kge.body import train_and_track
    from components.train_kge.config import KGEConfig

    result = run_step(
        pipeline,
        f"train-{model_name}",
        (KGEConfig,),
        settings,
        lambda c: train_and_track(model_name, c, kg.path, model.path),
        extras=("model_name",),
    )
    model.metadata.update(result)


@step_component(KGEConfig, base_image=RUNTIME_IMAGE)
def evaluate_kge_model(
    pipeline: str,
    kg: dsl.Input[dsl.Dataset],
    model: dsl.Input[dsl.Model],
    evaluation: dsl.Output[dsl.Artifact],
    metrics: dsl.Output[dsl.Metrics],
    **settings,
):
    """Filtered test ranking over both directions: MRR, MR, Hits@1/3/10 (PyKEEN's models: by PyKEEN's evaluator,
    ours beside it)."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.kfp_outputs import log_scalars
    from components.common.step import run_step
    from components.train_kge.body import evaluate_and_track
    from components.train_kge.config import KGEConfig

    result = run_step(
        pipeline,
        "evaluate-kge-model",
        (KGEConfig,),
        settings,
        lambda c: evaluate_and_track(c, kg.path, model.path, evaluation.path),
    )
    log_scalars(metrics, {k: result[k] for k in ("mrr", "mr", "hits_1", "hits_3", "hits_10")})


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def report_kge(
    pipeline: str,
    kg: dsl.Input[dsl.Dataset],
    evaluations: dsl.Input[list[dsl.Artifact]],
    report: dsl.Output[dsl.Markdown],
    comparison: dsl.Output[dsl.Artifact],
    html: dsl.Output[dsl.HTML],
):
    """Every model's test metrics in one table and their validation-MRR curves."""
    from components.common.step import run_step
    from components.train_kge.body import report_and_track

    run_step(
        pipeline, "report-kge", (), {"report": report, "comparison": comparison, "html": html},
        lambda: report_and_track([e.path for e in evaluations], kg.path, report.path, comparison.path),
    )  # fmt: skip
    from components.common.kfp_outputs import write_html

    write_html(report.path, html.path, "kg-embedding", extra_images=[f"{comparison.path}/valid_mrr.png"])
