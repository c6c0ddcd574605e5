"""Tasks several pipelines add the same way: the prepare step every pipeline starts with (configured and cached),
the base-model resolution every LLM pipeline's training consumes, and the evaluation of one model on the prepared
candidates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kfp import dsl

from components.evaluate.component import evaluate_model
from components.evaluate.config import EvalConfig
from components.prepare_data.component import prepare_dataset
from components.prepare_data.config import PrepareConfig
from components.resolve_base.component import resolve_base_model
from pipelines.cluster import configure, schedule_time
from pipelines.params import pick
from pipelines.settings import CompileSettings


def prepare(
    args: Mapping[str, Any], settings: CompileSettings, run: Mapping[str, Any], as_scheduled: bool = True
) -> dsl.PipelineTask:
    """prepare-dataset with the pipeline's PrepareConfig share of `args`; its data window ends at the run's schedule
    time (`as_scheduled`, for recurring runs) or takes all data."""
    task = prepare_dataset(
        pipeline=run["pipeline"],
        schedule_time=schedule_time(settings) if as_scheduled else "",
        **pick(args, PrepareConfig),
    )
    return configure(task, "data", settings)


def evaluate(
    args: Mapping[str, Any],
    settings: CompileSettings,
    run: Mapping[str, Any],
    name: Any,
    data: Any,
    model: Any,
    display_name: bool = True,
) -> dsl.PipelineTask:
    """evaluate-model of `model` (named `name`, a string or a loop item) on the prepared `data`."""
    task = evaluate_model(**run, model_name=name, prepared=data, model=model, **pick(args, EvalConfig))
    if display_name:
        task.set_display_name(f"evaluate-{name}")
    return configure(task, "evaluate", settings)


def resolve_base(
    args: Mapping[str, Any], settings: CompileSettings, run: Mapping[str, Any], parameter: str = "base_model"
) -> dsl.PipelineTask:
    """resolve-base-model of the pipeline parameter `parameter`: the Model artifact training steps consume."""
    task = resolve_base_model(pipeline=run["pipeline"], base_model=args[parameter])
    return configure(task, "data", settings)
