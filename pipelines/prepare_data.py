"""prepare-data: a raw recommendation dataset -> a prepared Dataset artifact and its Markdown report."""

from typing import NamedTuple

from kfp import dsl

from components.prepare_data.component import data_report, prepare_dataset
from components.prepare_data.config import PrepareConfig
from pipelines.cluster import configure, schedule_time
from pipelines.params import parameters_of, pick

NAME = "prepare-data"


class Outputs(NamedTuple):
    dataset: dsl.Dataset
    report: dsl.Markdown


@dsl.pipeline(name=NAME, description="Prepare a raw dataset (MovieLens, Last.fm, Amazon) into Parquet splits.")
@parameters_of(PrepareConfig)
def prepare_data_pipeline(**args) -> Outputs:
    run_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER

    # 1. Read, clean, re-index, split and draw candidates.
    prepared = prepare_dataset(
        pipeline=NAME, kfp_run_id=run_id, schedule_time=schedule_time(), **pick(args, PrepareConfig)
    )
    configure(prepared, "data", caching=True)

    # 2. Describe what was prepared.
    report = data_report(pipeline=NAME, kfp_run_id=run_id, prepared=prepared.outputs["prepared"])
    configure(report, "light")

    return Outputs(dataset=prepared.outputs["prepared"], report=report.outputs["report"])
