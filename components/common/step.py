"""What every KFP step wrapper calls: parse the config, open the step's MLflow run, run the body, report errors.

A `RecforgeError` raised anywhere in a step ends the step process with exit code 2 after printing one line and
writing the message to `$RECFORGE_ERROR_DIR/<step>.json`, where the local CLI picks it up so the user sees
the step's own message rather than KFP's generic task failure.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from components.common.config import StepConfig
from components.common.errors import RecforgeError

C = TypeVar("C", bound=StepConfig)
ERROR_DIR_ENV = "RECFORGE_ERROR_DIR"


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    for noisy in ("mlflow", "alembic", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def report_error(step: str, message: str) -> None:
    """Print the one-line message and leave it where the CLI looks for it."""
    print(f"recforge: error in step {step}: {message}", file=sys.stderr, flush=True)
    folder = os.environ.get(ERROR_DIR_ENV)
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        record = {"step": step, "message": message, "time": time.time()}
        (Path(folder) / f"{step}.json").write_text(json.dumps(record), encoding="utf-8")


def run_step(
    pipeline: str,
    step: str,
    kfp_run_id: str,
    config_class: type[C],
    params: Mapping[str, Any],
    body: Callable[[C], Any],
    tags: Mapping[str, str] | None = None,
) -> Any:
    """Build `config_class` from `params`, then run `body(config)` inside the step's nested MLflow run."""
    setup_logging()
    from components.common.tracking import step_run

    try:
        config = config_class.from_params(params, ignore_unknown=False)
        with step_run(pipeline, step, config.to_params(), kfp_run_id=kfp_run_id, tags=tags):
            return body(config)
    except RecforgeError as exc:
        report_error(step, exc.message)
        raise SystemExit(2) from None
