"""KFP wrappers of the `social-steering` steps (NIRec; logic in core.py, tracking in body.py)."""

from kfp import dsl

from components.common.images import RUNTIME_IMAGE, TRAINING_IMAGE
from components.common.wrapper import step_component
from components.social_steering.config import EstimatorConfig, PolicyConfig, SimulationConfig


@step_component(SimulationConfig, base_image=RUNTIME_IMAGE)
def simulate_social(pipeline: str, prepared: dsl.Input[dsl.Dataset], simulation: dsl.Output[dsl.Dataset], **settings):
    """Ground-truth embeddings by completion, logged exposures and clicks with neighbour interference, targets."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.social_steering.body import simulate_and_track
    from components.social_steering.config import SimulationConfig

    stats = run_step(
        pipeline, "simulate-social", (SimulationConfig,), settings,
        lambda c: simulate_and_track(c, prepared.path, simulation.path),
    )  # fmt: skip
    simulation.metadata.update({k: v for k, v in stats.items() if isinstance(v, int | float)})


@step_component(EstimatorConfig, base_image=TRAINING_IMAGE)
def train_estimator(
    pipeline: str, simulation: dsl.Input[dsl.Dataset], estimator: str, model: dsl.Output[dsl.Model], **settings
):
    """One click estimator (nirec, mf or lightgcn) on the logged exposures, best validation epoch kept."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.social_steering.body import train_and_track
    from components.social_steering.config import EstimatorConfig

    result = run_step(
        pipeline, f"train-{estimator}", (EstimatorConfig,), settings,
        lambda c: train_and_track(estimator, c, simulation.path, model.path), extras=("estimator",),
    )  # fmt: skip
    model.metadata.update(result)


@step_component(PolicyConfig, base_image=RUNTIME_IMAGE)
def optimise_policies(
    pipeline: str,
    simulation: dsl.Input[dsl.Dataset],
    models: dsl.Input[list[dsl.Model]],
    policies: dsl.Output[dsl.Artifact],
    **settings,
):
    """Every policy's exposure flips (nirec greedy, independent, mf, random) for every target item and lambda."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.social_steering.body import optimise_and_track
    from components.social_steering.config import PolicyConfig

    result = run_step(
        pipeline, "optimise-policies", (PolicyConfig,), settings,
        lambda c: optimise_and_track(c, simulation.path, [m.path for m in models], policies.path), extras=("models",),
    )  # fmt: skip
    policies.metadata.update(result)


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def evaluate_policy(
    pipeline: str,
    simulation: dsl.Input[dsl.Dataset],
    policies: dsl.Input[dsl.Artifact],
    policy: str,
    evaluation: dsl.Output[dsl.Artifact],
    metrics: dsl.Output[dsl.Metrics],
):
    """IoIP and DtNE of one policy at every lambda under the ground-truth click model."""
    from components.common.kfp_outputs import log_scalars
    from components.common.step import run_step
    from components.social_steering.body import evaluate_and_track

    result = run_step(
        pipeline, f"evaluate-{policy}", (), {"evaluation": evaluation, "metrics": metrics},
        lambda: evaluate_and_track(policy, simulation.path, policies.path, evaluation.path),
    )  # fmt: skip
    best = max(result["curve"], key=lambda r: r["ioip"])  # as body.py logs it in MLflow
    log_scalars(metrics, {"best_ioip": best["ioip"], "dtne_at_best": best["dtne"]})


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def report_social(
    pipeline: str,
    simulation: dsl.Input[dsl.Dataset],
    models: dsl.Input[list[dsl.Model]],
    evaluations: dsl.Input[list[dsl.Artifact]],
    report: dsl.Output[dsl.Markdown],
    comparison: dsl.Output[dsl.Artifact],
    html: dsl.Output[dsl.HTML],
):
    """The estimators' fit, the IoIP-DtNE table and curves of every policy, and NIRec's dominance check."""
    from components.common.step import run_step
    from components.social_steering.body import report_and_track

    run_step(
        pipeline, "report-social", (), {"report": report, "comparison": comparison, "html": html},
        lambda: report_and_track(
            [e.path for e in evaluations], [m.path for m in models], simulation.path, report.path, comparison.path
        ),
    )  # fmt: skip
    from components.common.kfp_outputs import write_html

    write_html(report.path, html.path, "social-steering", extra_images=[f"{comparison.path}/ioip_dtne.png"])
