"""prepare-data: a raw recommendation dataset -> a prepared Dataset artifact and its Markdown report."""

from typing import Any, NamedTuple

from kfp import dsl

from components.prepare_data.component import data_report
from components.prepare_data.config import PrepareConfig
from pipelines.cluster import configure
from pipelines.params import Parameters
from pipelines.settings import CompileSettings
from pipelines.steps import prepare

NAME = "prepare-data"
DESCRIPTION = "raw MovieLens / Last.fm / Amazon files -> Parquet tables, splits, candidates and a data report"
PARAMETERS = Parameters(
    (PrepareConfig,),
)
KEY_METRICS = ("users", "catalogue_items", "interactions", "splits_train_rows", "splits_test_rows")


class Outputs(NamedTuple):
    dataset: dsl.Dataset
    report: dsl.Markdown


def build(settings: CompileSettings) -> Any:
    """The prepare-data pipeline built with `settings`."""

    @dsl.pipeline(name=NAME, description=DESCRIPTION)
    @PARAMETERS.signature(settings)
    def prepare_data_pipeline(**args) -> Outputs:
        run = {"pipeline": NAME}

        # 1. Read, clean, re-index, split and draw candidates.
        prepared = prepare(args, settings, run)

        # 2. Describe what was prepared.
        report = data_report(**run, prepared=prepared.outputs["prepared"])
        configure(report, "light", settings)

        return Outputs(dataset=prepared.outputs["prepared"], report=report.outputs["report"])

    return prepare_data_pipeline
