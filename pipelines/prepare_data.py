"""prepare-data: a raw recommendation dataset -> a prepared Dataset artifact and its Markdown report."""

from typing import NamedTuple

from kfp import dsl

from components.prepare_data.component import data_report, prepare_dataset
from components.prepare_data.config import PrepareConfig
from pipelines.cluster import configure

NAME = "prepare-data"
D = PrepareConfig()


class Outputs(NamedTuple):
    dataset: dsl.Dataset
    report: dsl.Markdown


@dsl.pipeline(name=NAME, description="Prepare a raw dataset (MovieLens, Last.fm, Amazon) into Parquet splits.")
def prepare_data_pipeline(
    dataset: str = D.dataset,
    data_dir: str = D.data_dir,
    split: str = D.split,
    time_cutoff: int = D.time_cutoff,
    time_fraction: float = D.time_fraction,
    num_negatives: int = D.num_negatives,
    seed: int = D.seed,
    min_rating: float = D.min_rating,
    kcore: int = D.kcore,
    duplicates: str = D.duplicates,
    unknown_items: str = D.unknown_items,
) -> Outputs:
    run_id = dsl.PIPELINE_JOB_ID_PLACEHOLDER

    # 1. Read, clean, re-index, split and draw candidates.
    prepared = prepare_dataset(
        pipeline=NAME,
        kfp_run_id=run_id,
        dataset=dataset,
        data_dir=data_dir,
        split=split,
        time_cutoff=time_cutoff,
        time_fraction=time_fraction,
        num_negatives=num_negatives,
        seed=seed,
        min_rating=min_rating,
        kcore=kcore,
        duplicates=duplicates,
        unknown_items=unknown_items,
    )
    configure(prepared, "data", caching=True)

    # 2. Describe what was prepared.
    report = data_report(pipeline=NAME, kfp_run_id=run_id, prepared=prepared.outputs["prepared"])
    configure(report, "light")

    return Outputs(dataset=prepared.outputs["prepared"], report=report.outputs["report"])
