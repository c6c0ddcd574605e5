"""Which KFP run a step belongs to, read from the step's pod instead of its inputs.

KFP computes a task's cache key from its inputs, so a run id passed as an input parameter makes every run's key
unique and caching never hits. On a cluster the compiled pipeline (pipelines/cluster.py) exposes two labels KFP
and Argo put on every step pod as environment variables through the downward API (kfp-kubernetes
`use_field_path_as_env`, which is not part of the cache key): the KFP run id (`pipeline/runid`) and the Argo
workflow name (`workflows.argoproj.io/workflow`, which names the pipeline workspace's PVC). Locally both are empty:
the CLI hands every step its MLflow parent run (`RECFORGE_PARENT_RUN_ID`) instead.
Standard library only: compiling reads this module.
"""

from __future__ import annotations

import os

RUN_ID_ENV = "KFP_RUN_ID"
WORKFLOW_ENV = "KFP_WORKFLOW_NAME"
POD_FIELDS = {
    RUN_ID_ENV: "metadata.labels['pipeline/runid']",
    WORKFLOW_ENV: "metadata.labels['workflows.argoproj.io/workflow']",
}


def kfp_run_id() -> str:
    """The KFP run this step belongs to ('' outside a cluster)."""
    return os.environ.get(RUN_ID_ENV, "")


def kfp_workflow_name() -> str:
    """The Argo workflow of this KFP run ('' outside a cluster); KFP names the workspace PVC after it."""
    return os.environ.get(WORKFLOW_ENV, "")
