"""Closing a pipeline run's MLflow parent run from KFP's exit handler, with the run's final state.

On a cluster without KFP's MLflow integration the steps create the parent run (tagged with the KFP run id,
components/common/tracking.py); nothing else would end it, so it would stay RUNNING. The exit handler runs after
every other task, succeeded or not, and receives KFP's `PipelineTaskFinalStatus`.
"""

from __future__ import annotations

import logging

from components.common import tracking

log = logging.getLogger(__name__)
STATES = {"SUCCEEDED": "FINISHED", "FAILED": "FAILED", "CANCELED": "KILLED", "CANCELLED": "KILLED"}


def close_parent_run(kfp_run_id: str, state: str, error: str = "", uri: str | None = None) -> str | None:
    """End the parent run tagged with `kfp_run_id`: FINISHED when KFP says SUCCEEDED, KILLED when canceled, FAILED
    otherwise (KFP's error message as a tag); returns its id, or None when no run has the tag (KFP's MLflow
    integration made the parent run and closes it itself)."""
    mlflow = tracking._mlflow()
    uri = uri or tracking.tracking_uri()
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    parent = tracking.find_parent(client, experiments, kfp_run_id)
    if parent is None:
        log.info("no MLflow parent run tagged with KFP run %r: nothing to close", kfp_run_id)
        return None
    status = STATES.get(state.upper(), "FAILED")
    client.set_tag(parent.info.run_id, "recforge.kfp_state", state)
    tracking.end_run(parent.info.run_id, status, uri, error=error if status != "FINISHED" else None)
    log.info("closed MLflow run %s of KFP run %s as %s", parent.info.run_id, kfp_run_id, status)
    return parent.info.run_id
