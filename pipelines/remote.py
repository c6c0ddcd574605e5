"""Submitting, scheduling and listing pipeline runs on a Kubeflow Pipelines cluster (KFP v2beta1 REST API through
KFP's own `kfp.Client`).

`submit` uploads the compiled pipeline (a new pipeline, or a new version of the pipeline of the same name) and
starts a run in an experiment; `schedule` does the same upload and creates a recurring run (6-field cron with
seconds, at most one run at a time, no catch-up of missed runs); `runs` lists recent runs with their state and,
where the MLflow store is reachable, the link to the run's MLflow parent run (found by its kfp run id tag).
"""

from __future__ import annotations

import hashlib
import re
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.common.errors import ConfigError, RecforgeError

_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,\-#LW]+$")


@dataclass(frozen=True)
class Uploaded:
    pipeline_id: str
    version_id: str
    version_name: str


@dataclass(frozen=True)
class RunRow:
    """One line of `recforge runs`."""

    run_id: str
    name: str
    state: str
    created_at: str
    mlflow: str


def check_cron(cron: str) -> str:
    """KFP's cron format: 6 fields, seconds first (`0 0 3 * * *` is 03:00 every day)."""
    fields = cron.split()
    if len(fields) != 6 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ConfigError(
            "--cron", f"got {cron!r}; expected 6 fields 'second minute hour day-of-month month day-of-week'"
        )
    return " ".join(fields)


def check_host(host: str) -> str:
    if not re.match(r"^https?://[^\s/]+", host):
        raise ConfigError(
            "--host", f"got {redact(host)!r}; expected the KFP API endpoint as http(s)://host[:port][/path]"
        )
    return host.rstrip("/")


TOKEN_ENV, TOKEN_FILE_ENV = "KF_PIPELINES_TOKEN", "KF_PIPELINES_TOKEN_FILE"
AUTH_HINT = f"expected a valid bearer token (--token-file FILE, {TOKEN_ENV} or {TOKEN_FILE_ENV})"


def redact(host: str) -> str:
    """`host` as it may be shown: a password in its user part replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(host)
    if parts.password is None:
        return host
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def auth(token_file: str | None, environ: Mapping[str, str]) -> tuple[dict[str, Any], str | None]:
    """`kfp.Client` keyword arguments for the bearer token, and the token: a file (`--token-file`, else
    $KF_PIPELINES_TOKEN_FILE; KFP's client reads it again on every refresh, as projected service-account tokens
    need), else $KF_PIPELINES_TOKEN; neither: no token."""
    path = token_file or environ.get(TOKEN_FILE_ENV)
    if path:
        if not Path(path).is_file():
            raise ConfigError("--token-file", f"{path} is not a file; expected one holding a bearer token")
        from kfp.client import ServiceAccountTokenVolumeCredentials

        token = Path(path).read_text(encoding="utf-8").strip()
        return {"credentials": ServiceAccountTokenVolumeCredentials(path=path)}, token
    token = environ.get(TOKEN_ENV)
    return ({"existing_token": token}, token) if token else ({}, None)


def check_access(host: str, token: str | None, timeout: float = 10.0) -> None:
    """One GET of the API's health endpoint with the token: 401/403 and unreachable servers become one line each
    (kfp.Client would retry its own health check five times, print each traceback, then report a timeout)."""
    import base64
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(host)
    bare = urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")))
    request = urllib.request.Request(f"{bare}/apis/v2beta1/healthz")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    elif parts.username:  # user:password in the URL: HTTP basic authentication
        pair = f"{parts.username}:{parts.password or ''}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise RecforgeError(f"connect: {redact(host)} answered {exc.code} {exc.reason}; {AUTH_HINT}") from None
        return  # another answer: the server is there; the API calls report what is wrong
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RecforgeError(f"connect: cannot reach {redact(host)} ({reason}); expected a KFP API server") from None


def connect(host: str, namespace: str, token_file: str | None = None, environ: Mapping[str, str] | None = None) -> Any:
    """A `kfp.Client` for `host` and `namespace`, authenticated with a bearer token when one is given."""
    import os

    import kfp

    host = check_host(host)
    kwargs, token = auth(token_file, os.environ if environ is None else environ)
    check_access(host, token)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return _call("connect", host, kfp.Client, host, namespace=namespace, **kwargs)


def _call(what: str, host: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """One API call; HTTP and connection failures become one-line errors naming the call and the server."""
    from kfp_server_api.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    shown = redact(host)
    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        body = (exc.body or b"").decode(errors="replace") if isinstance(exc.body, bytes) else str(exc.body or "")
        hint = f"; {AUTH_HINT}" if exc.status in (401, 403) else ""
        raise RecforgeError(f"{what}: {shown} answered {exc.status} {exc.reason}: {body.strip()[:300]}{hint}") from None
    except (OSError, HTTPError) as exc:  # refused connections end as urllib3's MaxRetryError
        raise RecforgeError(f"{what}: cannot reach {shown} ({type(exc).__name__}); expected a KFP API server") from None


def upload(client: Any, host: str, name: str, package: Path, description: str) -> Uploaded:
    """The pipeline called `name` with `package` as its newest version (created on first upload)."""
    digest = hashlib.sha256(package.read_bytes()).hexdigest()[:12]
    version_name = f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{digest}"
    pipeline_id = _call("find pipeline", host, client.get_pipeline_id, name)
    if pipeline_id is None:
        pipeline = _call("upload pipeline", host, client.upload_pipeline, str(package), name, description)
        pipeline_id = pipeline.pipeline_id
        versions = _call("list versions", host, client.list_pipeline_versions, pipeline_id, page_size=1,
                         sort_by="created_at desc")  # fmt: skip
        version = versions.pipeline_versions[0]
    else:
        version = _call(
            "upload version", host, client.upload_pipeline_version, str(package), version_name, pipeline_id=pipeline_id
        )
    return Uploaded(pipeline_id, version.pipeline_version_id, version.display_name)


def experiment_id(client: Any, host: str, name: str, namespace: str) -> str:
    """The id of experiment `name`, created when missing (KFP's client looks it up by name first)."""
    return _call("create experiment", host, client.create_experiment, name, namespace=namespace).experiment_id


def submit(client: Any, host: str, name: str, package: Path, arguments: dict[str, Any], experiment: str,
           namespace: str, description: str) -> tuple[Any, Uploaded]:  # fmt: skip
    """Upload, then start one run with `arguments`; returns the run and what was uploaded."""
    uploaded = upload(client, host, name, package, description)
    exp = experiment_id(client, host, experiment, namespace)
    job = f"{name} {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}"
    run = _call("create run", host, client.run_pipeline, exp, job, params=arguments, pipeline_id=uploaded.pipeline_id,
                version_id=uploaded.version_id)  # fmt: skip
    return run, uploaded


def schedule(client: Any, host: str, name: str, package: Path, arguments: dict[str, Any], experiment: str,
             namespace: str, description: str, cron: str) -> tuple[Any, Uploaded]:  # fmt: skip
    """Upload, then create a recurring run: `cron` (6 fields), one run at a time, no catch-up."""
    cron = check_cron(cron)
    uploaded = upload(client, host, name, package, description)
    exp = experiment_id(client, host, experiment, namespace)
    recurring = _call(
        "create recurring run", host, client.create_recurring_run, exp, f"{name} ({cron})",
        description=description, cron_expression=cron, max_concurrency=1, no_catchup=True, params=arguments,
        pipeline_id=uploaded.pipeline_id, version_id=uploaded.version_id, enabled=True,
    )  # fmt: skip
    return recurring, uploaded


def mlflow_links(run_ids: list[str], tracking_uri: str | None, ui: str | None) -> dict[str, str]:
    """kfp run id -> link to its MLflow parent run (tagged `recforge.kfp_run_id`), for the runs that have one.

    Nothing when no tracking URI is known or the store cannot be read: the listing never fails for MLflow.
    """
    if not tracking_uri or not run_ids:
        return {}
    from mlflow.tracking import MlflowClient

    from components.common.tracking import TAG_KFP_RUN, TAG_STEP

    base = (ui or (tracking_uri if tracking_uri.startswith("http") else "")).rstrip("/")
    links = {}
    try:
        client = MlflowClient(tracking_uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        for run_id in run_ids:  # MLflow filters compare a tag with one value at a time
            found = client.search_runs(
                experiments,
                filter_string=f"tags.`{TAG_KFP_RUN}` = '{run_id}' and tags.`{TAG_STEP}` IS NULL",
                max_results=1,
            )
            for run in found:
                where = f"#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
                links[run_id] = f"{base}/{where}" if base else f"{tracking_uri} {where}"
    except Exception:  # an unreachable or foreign store: list the runs without links
        return links
    return links


def list_runs(client: Any, host: str, namespace: str, limit: int, tracking_uri: str | None,
              ui: str | None) -> list[RunRow]:  # fmt: skip
    """The newest `limit` runs of the namespace, newest first, with their MLflow links."""
    response = _call("list runs", host, client.list_runs, page_size=limit, sort_by="created_at desc",
                     namespace=namespace)  # fmt: skip
    runs = response.runs or []
    links = mlflow_links([r.run_id for r in runs], tracking_uri, ui)
    return [
        RunRow(r.run_id, r.display_name or "", r.state or "", str(r.created_at or ""), links.get(r.run_id, "-"))
        for r in runs
    ]
