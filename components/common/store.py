"""Making sure the MLflow store a run logs to can take it, before the run starts.

An embedded SQLite store is created once, under a file lock beside it (three runs started together on a fresh
workdir raced on MLflow's schema migrations: `duplicate column name`), and must be writable: a read-only
`mlflow.db` once printed two SQLAlchemy tracebacks. A tracking server must answer `/health` within a few seconds
(a dead one meant four minutes of MLflow's default retries, then an internal error). Every failure is one
RecforgeError line. `HTTP_LIMITS` bounds MLflow's own retries for the run's steps, so a server that dies mid-run
fails the step in seconds rather than minutes.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

from components.common.errors import RecforgeError, TrackingUnavailable

HTTP_LIMITS = {  # MLflow's environment variables; the defaults (7 retries, 120 s each) add up to minutes
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}
LOCK_TIMEOUT = 300  # seconds a run waits for another one to finish creating the store
HEALTH_TRIES, HEALTH_TIMEOUT = 3, 2.0


def prepare_store(uri: str) -> None:
    """Create or check the store at `uri`; RecforgeError (TrackingUnavailable for a server) when it cannot be
    used."""
    if uri.startswith("sqlite:///"):
        _prepare_sqlite(Path(uri[len("sqlite:///") :]), uri)
    elif uri.startswith(("http://", "https://")):
        check_server(uri)


def _prepare_sqlite(path: Path, uri: str) -> None:
    from filelock import FileLock, Timeout

    try:
        lock = FileLock(f"{path}.lock")
        with lock.acquire(timeout=LOCK_TIMEOUT):
            if path.exists():
                _probe_write(path)
            import mlflow

            mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)  # creates and migrates the schema
    except RecforgeError:
        raise
    except Timeout:
        raise RecforgeError(
            f"MLflow store {path}: another run held {path.name}.lock for {LOCK_TIMEOUT}s; expected it to finish "
            "creating the store (remove the lock file if no run is alive)"
        ) from None
    except OSError as exc:
        raise RecforgeError(
            f"MLflow store {path}: cannot be written ({exc.strerror or exc}); expected a folder you can write"
        ) from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecforgeError(f"MLflow store {path}: cannot be used ({first[:300]})") from None


def _probe_write(path: Path) -> None:
    """A write SQLite rolls back: fails on a read-only file, folder or file system."""
    try:
        connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("CREATE TABLE IF NOT EXISTS recforge_write_probe (x)")
            connection.execute("ROLLBACK")
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise RecforgeError(
            f"MLflow store {path}: cannot be written ({exc}); expected a database you can write"
        ) from None


def check_server(uri: str) -> None:
    """`uri`/health answers 200 within HEALTH_TRIES tries of HEALTH_TIMEOUT seconds; TrackingUnavailable else."""
    problem = ""
    for attempt in range(HEALTH_TRIES):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=HEALTH_TIMEOUT) as response:
                if response.status == 200:
                    return
                problem = f"/health answered {response.status}"
        except urllib.error.HTTPError as exc:
            problem = f"/health answered {exc.code} {exc.reason}"
            if exc.code in (401, 403):
                break
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            problem = f"unreachable ({reason})"
        if attempt + 1 < HEALTH_TRIES:
            time.sleep(0.5 * (attempt + 1))
    raise TrackingUnavailable(uri, f"{problem}; expected a running MLflow server (check MLFLOW_TRACKING_URI)")
