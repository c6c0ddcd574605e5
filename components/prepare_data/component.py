"""KFP wrappers of the prepare step and the data report (logic in core.py, report.py and body.py)."""

from kfp import dsl

from components.common.images import RUNTIME_IMAGE
from components.common.wrapper import step_component
from components.prepare_data.config import PrepareConfig


@step_component(PrepareConfig, base_image=RUNTIME_IMAGE)
def prepare_dataset(
    pipeline: str,
    schedule_time: str,
    prepared: dsl.Output[dsl.Dataset],
    **settings,
):
    """Raw dataset -> dense Parquet tables, splits and candidate sets (a Dataset directory); the data window ends at
    `data_until`, or at the schedule time of a recurring run."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.prepare_data.body import prepare_and_track
    from components.prepare_data.config import PrepareConfig, effective_until

    settings["data_until"] = effective_until(settings["data_until"], schedule_time)

    stats = run_step(
        pipeline,
        "prepare-dataset",
        (PrepareConfig,),
        settings,
        lambda c: prepare_and_track(c, prepared.path),
    )
    prepared.metadata.update({"digest": stats["digest"], "users": stats["users"], "items": stats["catalogue_items"]})


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def data_report(
    pipeline: str, prepared: dsl.Input[dsl.Dataset], report: dsl.Output[dsl.Markdown], html: dsl.Output[dsl.HTML]
):
    """A Markdown report of a prepared Dataset, also logged to MLflow."""
    from components.common.step import run_step
    from components.prepare_data.body import report_and_track

    run_step(
        pipeline,
        "data-report",
        (),
        {"report": report, "html": html},
        lambda: report_and_track(prepared.path, report.path),
    )
    from components.common.kfp_outputs import write_html

    write_html(report.path, html.path, "prepared dataset")
