"""A real `mlflow server` on 127.0.0.1 for the integration tests (SQLite backend, artifact proxy)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mlflow_server(root: Path, port: int, backend: str | None = None) -> subprocess.Popen:
    """Start a server on `port` with its store and artifacts under `root` (or the `backend` store URI) and wait
    until /health answers."""
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / "server.log", "a")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", backend or f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination", str(root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            pass
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            raise RuntimeError("mlflow server did not become healthy:\n" + (root / "server.log").read_text()[-3000:])
        time.sleep(0.5)


def stop(process: subprocess.Popen, sig: int | None = None) -> None:
    """Stop the server and its workers: SIGTERM and wait, or send `sig` (SIGKILL: a crash) to every process of it."""
    import psutil

    try:
        family = [*psutil.Process(process.pid).children(recursive=True), psutil.Process(process.pid)]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.send_signal(sig if sig is not None else 15)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=30)
    process.wait(timeout=30)


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (Debian's postgresql package), or None."""
    import glob
    import shutil

    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1:]), None)
    return Path(found).resolve().parent if found else None


def start_postgres(root: Path, port: int) -> tuple[str, subprocess.Popen]:
    """A PostgreSQL server of its own, in `root` (a fresh cluster, trust authentication on 127.0.0.1 only), with a
    database `mlflow`; returns its SQLAlchemy URI and the process. PostgreSQL refuses to run as root: as root the
    cluster belongs to, and runs as, the `postgres` account the Debian package creates."""
    import pwd

    bindir = postgres_bin()
    assert bindir is not None, "PostgreSQL's server programs are not installed (Debian: apt-get install postgresql)"
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
    )
    process = subprocess.Popen(
        [*run_as, str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(root),
         "-c", "fsync=off", "-c", "max_connections=100"],
        stdout=open(root / "postgres.log", "a"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.time() + 60
    while True:
        ready = subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
        ).returncode
        if ready == 0:
            break
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            raise RuntimeError("postgres did not start:\n" + (root / "postgres.log").read_text()[-3000:])
        time.sleep(0.3)
    subprocess.run(
        [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow"],
        check=True,
        capture_output=True,
    )
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow", process  # SQLAlchemy 2.1 would pick psycopg 3
