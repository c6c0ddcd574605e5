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
