"""KFP wrapper of the exit handler that closes the MLflow parent run (logic in body.py)."""

from kfp import dsl

from components.common.images import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def close_pipeline_run(status: dsl.PipelineTaskFinalStatus):
    """Exit handler: end this KFP run's MLflow parent run with the run's final state."""
    from components.close_run.body import close_parent_run
    from components.common.runinfo import kfp_run_id
    from components.common.step import setup_logging

    setup_logging()
    close_parent_run(kfp_run_id(), status.state, status.error_message or "")
