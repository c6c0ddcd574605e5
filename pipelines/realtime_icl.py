"""realtime-icl: RecICL, tuned once in an in-context format; later windows are served by refreshing only the
demonstrations in the prompt. Evaluated per window against the same model without demonstrations, a plain SFT
model and a model retrained on all data up to each window (the upper bound)."""

from typing import Any, NamedTuple

from kfp import dsl

from components.evaluate.component import evaluate_realtime
from components.prepare_data.config import PrepareConfig
from components.recsys.icl_config import ICLConfig
from components.train_sft.component import train_recicl
from components.train_sft.config import SFTConfig
from pipelines.cluster import configure, schedule_time
from pipelines.params import Parameters, pick
from pipelines.settings import CompileSettings
from pipelines.steps import prepare, resolve_base

NAME = "realtime-icl"
DESCRIPTION = "RecICL tuned once, served by refreshing in-context demonstrations; AUC/UAUC per later window"
PARAMETERS = Parameters(
    (PrepareConfig, SFTConfig, ICLConfig),
)
KEY_METRICS = ("auc", "uauc")


class Outputs(NamedTuple):
    models: dsl.Model
    report: dsl.Markdown


def build(settings: CompileSettings) -> Any:
    """The realtime-icl pipeline built with `settings`."""

    @dsl.pipeline(name=NAME, description=DESCRIPTION)
    @PARAMETERS.signature(settings)
    def realtime_icl_pipeline(**args) -> Outputs:
        run = {
            "pipeline": NAME,
            "schedule_time": schedule_time(settings),
        }
        training = {**pick(args, SFTConfig), **pick(args, ICLConfig)}

        # 1. Prepare the dataset (interactions with ratings and timestamps).
        prepared = prepare(args, settings, run, as_scheduled=False)
        data = prepared.outputs["prepared"]
        base = resolve_base(args, settings, run).outputs["model"]

        # 2. RecICL and the plain SFT baseline, trained once on the training window (or reused: icl_model_dir).
        models = configure(
            train_recicl(**run, prepared=data, base=base, upper_bound=False, **training), "gpu-1", settings
        )

        # 3. The upper bound: retrained on all data before each later window (only with retrain=true).
        retrained = configure(
            train_recicl(**run, prepared=data, base=base, upper_bound=True, **training), "gpu-1", settings
        )
        retrained.set_display_name("retrain-recicl")

        # 4. AUC / UAUC per window, no model updates.
        evaluated = evaluate_realtime(
            **run,
            prepared=data,
            models=models.outputs["models"],
            retrained=retrained.outputs["models"],
            base=base,
            **pick(args, ICLConfig),
        )
        configure(evaluated, "evaluate", settings)

        return Outputs(models=models.outputs["models"], report=evaluated.outputs["report"])

    return realtime_icl_pipeline
