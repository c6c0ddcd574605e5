"""Which of a step's environment variables a TrainJob's training processes get, and how.

Plain settings the training code reads are copied by value from an allow-list; nothing else of the step's
environment is. Credentials (MLflow's token or password, the Hugging Face token, AWS keys) are never copied: the
TrainJob names them by `secretKeyRef` to the same Secret the pipeline step reads them from
(`recforge-credentials` unless compiled otherwise, pipelines/cluster.py), so anyone who can read TrainJobs reads
no secret. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CREDENTIALS_SECRET = "recforge-credentials"  # optional Secret; each key is the variable it sets
SECRET_NAME_ENV = "RECFORGE_CREDENTIALS_SECRET"  # set on a step at compile time: which Secret it reads
SECRET_VARIABLES = (
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "HF_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
PLAIN_VARIABLES = (  # copied by value when the step has them
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_ID",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_TRACKING_INSECURE_TLS",
    "MLFLOW_S3_ENDPOINT_URL",
    "MLFLOW_DISABLE_TELEMETRY",
    "HF_HOME",
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "RECFORGE_DATA_DIR",
    "RECFORGE_OFFLINE",
    "RECFORGE_CACHE_DIR",
    "RECFORGE_MODEL_CACHE",
    "RECFORGE_CHECKPOINT_ROOT",
    "RECFORGE_PARENT_RUN_ID",
    "RECFORGE_MLFLOW_RUN_ID",
)


def plain_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed non-secret variables of `environ`."""
    return {name: environ[name] for name in PLAIN_VARIABLES if name in environ}


def secret_references(environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """Kubernetes EnvVar entries reading each credential the step has from the step's own Secret, by reference."""
    secret = environ.get(SECRET_NAME_ENV) or CREDENTIALS_SECRET
    return [
        {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": name, "optional": True}}}
        for name in SECRET_VARIABLES
        if name in environ
    ]
