"""KFP wrappers of the prompt-personalization steps (RPP; logic in core.py, tracking in body.py)."""

from kfp import dsl

from components.common.base_model import BaseModelConfig
from components.common.images import TRAINING_IMAGE
from components.common.wrapper import step_component
from components.personalize_prompt.config import RPPConfig


@step_component(RPPConfig, BaseModelConfig, base_image=TRAINING_IMAGE)
def train_prompt_agents(
    pipeline: str,
    prepared: dsl.Input[dsl.Dataset],
    base: dsl.Input[dsl.Model],
    sasrec_model: dsl.Input[dsl.Model],
    agents: dsl.Output[dsl.Model],
    **settings,
):
    """RPP: four actor-critic agents choose each training user's prompt sentences; the frozen LLM ranks; NDCG@10
    rewards."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.base_model import BaseModelConfig
    from components.common.step import run_step
    from components.personalize_prompt.body import train_and_track
    from components.personalize_prompt.config import RPPConfig

    result = run_step(
        pipeline,
        "train-prompt-agents",
        (RPPConfig, BaseModelConfig),
        settings,
        lambda c, b: train_and_track(c, b, base.path, prepared.path, sasrec_model.path, agents.path),
    )
    agents.metadata.update(result)


@step_component(RPPConfig, BaseModelConfig, base_image=TRAINING_IMAGE)
def evaluate_prompt_agents(
    pipeline: str,
    prepared: dsl.Input[dsl.Dataset],
    base: dsl.Input[dsl.Model],
    sasrec_model: dsl.Input[dsl.Model],
    agents: dsl.Input[dsl.Model],
    results: dsl.Output[dsl.Artifact],
    report: dsl.Output[dsl.Markdown],
    metrics: dsl.Output[dsl.Metrics],
    **settings,
):
    """RPP, RPP+, every fixed template, the best template on the training users and random choices, on the same
    held-out users and candidates; NDCG@1/5/10 and parse failures per ranking mode, and the report."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.base_model import BaseModelConfig
    from components.common.kfp_outputs import log_scalars
    from components.common.step import run_step
    from components.personalize_prompt.body import evaluate_and_track
    from components.personalize_prompt.config import RPPConfig

    result = run_step(
        pipeline,
        "evaluate-prompt-agents",
        (RPPConfig, BaseModelConfig),
        settings,
        lambda c, b: evaluate_and_track(
            c, b, base.path, prepared.path, sasrec_model.path, agents.path, results.path, report.path
        ),
    )
    log_scalars(metrics, {"rpp_ndcg_10": result["rpp_ndcg_10"]})
