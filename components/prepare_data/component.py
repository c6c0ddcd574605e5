"""KFP wrappers of the prepare step and the data report (logic in core.py, report.py and track.py)."""

from kfp import dsl

from pipelines.images import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def prepare_dataset(
    pipeline: str,
    kfp_run_id: str,
    dataset: str,
    data_dir: str,
    split: str,
    time_cutoff: int,
    time_fraction: float,
    num_negatives: int,
    seed: int,
    min_rating: float,
    kcore: int,
    duplicates: str,
    unknown_items: str,
    data_until: str,
    schedule_time: str,
    prepared: dsl.Output[dsl.Dataset],
):
    """Raw dataset -> dense Parquet tables, splits and candidate sets (a Dataset directory); the data window ends at
    `data_until`, or at the schedule time of a recurring run."""
    params = {k: v for k, v in locals().items() if k not in ("pipeline", "kfp_run_id", "schedule_time", "prepared")}
    from components.common.step import run_step
    from components.prepare_data.config import PrepareConfig, effective_until
    from components.prepare_data.track import prepare_and_track

    params["data_until"] = effective_until(data_until, schedule_time)

    stats = run_step(
        pipeline,
        "prepare-dataset",
        kfp_run_id,
        PrepareConfig,
        params,
        lambda c: prepare_and_track(c, prepared.path),
    )
    prepared.metadata.update({"digest": stats["digest"], "users": stats["users"], "items": stats["catalogue_items"]})


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def data_report(pipeline: str, kfp_run_id: str, prepared: dsl.Input[dsl.Dataset], report: dsl.Output[dsl.Markdown]):
    """A Markdown report of a prepared Dataset, also logged to MLflow."""
    from components.common.config import StepConfig
    from components.common.step import run_step
    from components.prepare_data.track import report_and_track

    run_step(
        pipeline,
        "data-report",
        kfp_run_id,
        StepConfig,
        {},
        lambda c: report_and_track(prepared.path, report.path),
    )
