"""prompt-personalization: prepare -> SASRec (the agents' user state) -> RPP agents trained on training users with a
frozen LLM ranker -> RPP, RPP+, fixed templates and random prompts evaluated on held-out users -> report.
(Mao et al., Reinforced Prompt Personalization, TOIS 2025.)"""

from typing import Any, NamedTuple

from kfp import dsl

from components.common.base_model import BaseModelConfig
from components.personalize_prompt.component import evaluate_prompt_agents, train_prompt_agents
from components.personalize_prompt.config import RPPConfig
from components.prepare_data.config import PrepareConfig
from components.train_baseline.component import train_sasrec
from components.train_baseline.config import SASRecConfig
from pipelines.cluster import configure
from pipelines.params import Parameters, pick
from pipelines.settings import CompileSettings
from pipelines.steps import prepare, resolve_base

NAME = "prompt-personalization"
DESCRIPTION = "prepare -> SASRec -> RPP agents with a frozen LLM ranker -> RPP vs fixed and random prompts -> report"
PARAMETERS = Parameters(
    (PrepareConfig, SASRecConfig, BaseModelConfig, RPPConfig),
    extra={"base_model": (str, "smollm2-135m", "the frozen LLM ranker: a preset, model directory or hub id")},
)
KEY_METRICS = ("ndcg_10", "parse_failure_rate")


class Outputs(NamedTuple):
    agents: dsl.Model
    report: dsl.Markdown


def build(settings: CompileSettings) -> Any:
    """The prompt-personalization pipeline built with `settings`."""

    @dsl.pipeline(name=NAME, description=DESCRIPTION)
    @PARAMETERS.signature(settings)
    def prompt_personalization_pipeline(**args) -> Outputs:
        run = {"pipeline": NAME}
        rpp = {**pick(args, RPPConfig), **pick(args, BaseModelConfig)}

        # 1. Prepare the dataset; resolve the frozen ranker.
        data = prepare(args, settings, run).outputs["prepared"]
        base = resolve_base(args, settings, run).outputs["model"]

        # 2. SASRec: the users' sequence representations, the agents' first state.
        sasrec = configure(train_sasrec(**run, prepared=data, **pick(args, SASRecConfig)), "train", settings)
        inputs = {"prepared": data, "base": base, "sasrec_model": sasrec.outputs["model"]}

        # 3. The four prompt agents, trained on the training users.
        agents = configure(train_prompt_agents(**run, **inputs, **rpp), "gpu-1", settings)

        # 4. Every method on the held-out users, and the report.
        evaluation = evaluate_prompt_agents(**run, **inputs, agents=agents.outputs["agents"], **rpp)
        configure(evaluation, "evaluate", settings)

        return Outputs(agents=agents.outputs["agents"], report=evaluation.outputs["report"])

    return prompt_personalization_pipeline
