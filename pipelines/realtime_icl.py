"""realtime-icl: RecICL, tuned once in an in-context format; later windows are served by refreshing only the
demonstrations in the prompt. Evaluated per window against the same model without demonstrations, a plain SFT
model and a model retrained on all data up to each window (the upper bound)."""

from typing import NamedTuple

from kfp import dsl

from components.evaluate.component import evaluate_realtime
from components.prepare_data.component import prepare_dataset
from components.prepare_data.config import PrepareConfig
from components.train_sft.component import train_recicl
from components.train_sft.config import SFTConfig
from components.train_sft.icl_config import ICLConfig
from pipelines.cluster import configure, schedule_time
from pipelines.params import parameters_of, pick

NAME = "realtime-icl"


class Outputs(NamedTuple):
    models: dsl.Model
    report: dsl.Markdown


@dsl.pipeline(name=NAME, description="RecICL: real-time recommendation by refreshing in-context demonstrations.")
@parameters_of(PrepareConfig, SFTConfig, ICLConfig)
def realtime_icl_pipeline(**args) -> Outputs:
    run = {"pipeline": NAME, "kfp_run_id": dsl.PIPELINE_JOB_ID_PLACEHOLDER, "schedule_time": schedule_time()}
    training = {**pick(args, SFTConfig), **pick(args, ICLConfig)}

    # 1. Prepare the dataset (interactions with ratings and timestamps).
    prepared = configure(
        prepare_dataset(pipeline=NAME, kfp_run_id=run["kfp_run_id"], schedule_time="", **pick(args, PrepareConfig)),
        "data",
        caching=True,
    )
    data = prepared.outputs["prepared"]

    # 2. RecICL and the plain SFT baseline, trained once on the training window (or reused: icl_model_dir).
    models = configure(train_recicl(**run, prepared=data, upper_bound=False, **training), "gpu-1")

    # 3. The upper bound: retrained on all data before each later window (only with retrain=true).
    retrained = configure(train_recicl(**run, prepared=data, upper_bound=True, **training), "gpu-1")
    retrained.set_display_name("retrain-recicl")

    # 4. AUC / UAUC per window, no model updates.
    evaluated = evaluate_realtime(
        **run,
        prepared=data,
        models=models.outputs["models"],
        retrained=retrained.outputs["models"],
        **pick(args, ICLConfig),
    )
    configure(evaluated, "evaluate")

    return Outputs(models=models.outputs["models"], report=evaluated.outputs["report"])
