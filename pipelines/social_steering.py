"""social-steering: prepare a dataset with a friendship graph -> semi-simulate neighbour interference -> NIRec, MF
and LightGCN estimators in parallel (dsl.ParallelFor) -> optimise the exposure policies -> evaluate each policy's
IoIP and DtNE under the ground truth (dsl.ParallelFor) -> one report.
(Pan et al., Proactive Recommendation in Social Networks: Steering User Interest with Causal Inference, arXiv
2409.08934.)"""

from typing import Any, NamedTuple

from kfp import dsl

from components.prepare_data.config import PrepareConfig
from components.social_steering.component import (
    evaluate_policy,
    optimise_policies,
    report_social,
    simulate_social,
    train_estimator,
)
from components.social_steering.config import ESTIMATORS, POLICIES, EstimatorConfig, PolicyConfig, SimulationConfig
from pipelines.cluster import configure
from pipelines.params import Parameters, pick
from pipelines.settings import CompileSettings
from pipelines.steps import prepare

NAME = "social-steering"
DESCRIPTION = (
    "prepare Last.fm with its friendship graph -> semi-simulation -> NIRec, MF, LightGCN -> exposure policies ->"
    " IoIP/DtNE under the ground truth -> report"
)
PARAMETERS = Parameters(
    (PrepareConfig, SimulationConfig, EstimatorConfig, PolicyConfig), defaults={"dataset": "lastfm-hetrec-2k"}
)
KEY_METRICS = ("test_logloss", "best_ioip", "dtne_at_best")


class Outputs(NamedTuple):
    simulation: dsl.Dataset
    report: dsl.Markdown


def build(settings: CompileSettings) -> Any:
    """The social-steering pipeline built with `settings`."""

    @dsl.pipeline(name=NAME, description=DESCRIPTION)
    @PARAMETERS.signature(settings)
    def social_steering_pipeline(**args) -> Outputs:
        run = {"pipeline": NAME}

        # 1. Prepare the dataset (its social.parquet holds the friendship graph).
        data = prepare(args, settings, run).outputs["prepared"]

        # 2. Ground truth, logged exposures and clicks, target groups.
        simulated = simulate_social(**run, prepared=data, **pick(args, SimulationConfig))
        simulation = configure(simulated, "data", settings).outputs["simulation"]

        # 3. The interference estimator and the no-interference baselines, side by side.
        with dsl.ParallelFor(list(ESTIMATORS), parallelism=settings.loop_parallelism) as name:
            trained = train_estimator(**run, simulation=simulation, estimator=name, **pick(args, EstimatorConfig))
            configure(trained, "train", settings)

        # 4. Every policy at every lambda.
        models = dsl.Collected(trained.outputs["model"])
        optimised = optimise_policies(**run, simulation=simulation, models=models, **pick(args, PolicyConfig))
        configure(optimised, "evaluate", settings)

        # 5. Each policy under the ground truth; one report.
        with dsl.ParallelFor(list(POLICIES), parallelism=settings.loop_parallelism) as policy:
            evaluated = evaluate_policy(
                **run, simulation=simulation, policies=optimised.outputs["policies"], policy=policy
            )
            configure(evaluated, "evaluate", settings)
        report = report_social(
            **run,
            simulation=simulation,
            models=dsl.Collected(trained.outputs["model"]),  # a Collected serves one consumer (KFP's compiler)
            evaluations=dsl.Collected(evaluated.outputs["evaluation"]),
        )
        configure(report, "light", settings)
        return Outputs(simulation=simulation, report=report.outputs["report"])

    return social_steering_pipeline
