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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from components.common.config import StepConfig
from components.common.errors import ConfigError, RecforgeError, TrackingUnavailable
from components.common.interrupts import Interrupted, follow_parent, signals_raise

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


PLUMBING = ("pipeline", "schedule_time")  # what every step may take besides settings


def split_settings(
    configs: Sequence[type[StepConfig]], values: Mapping[str, Any], extras: Sequence[str] = ()
) -> list[StepConfig]:
    """Build each of `configs` from its fields in `values` (a wrapper's `locals()`).

    Set aside first: the plumbing every step takes (PLUMBING), KFP artifacts (values with a `path`), absent
    optional inputs (None) and the wrapper's own `extras`. Every other key must be a field of one of `configs`:
    an unknown key is a ConfigError, never silently dropped.
    """
    owner = {name: cls for cls in configs for name in cls.docs()}
    shares: dict[type, dict[str, Any]] = {cls: {} for cls in configs}
    for key, value in values.items():
        if key in PLUMBING or key in extras or value is None or hasattr(value, "path"):
            continue
        if key not in owner:
            expected = ", ".join(sorted(owner)) or "none"
            raise ConfigError(f"step.{key}", f"unknown setting; expected one of {expected}")
        shares[owner[key]][key] = value
    return [cls.from_params(shares[cls]) for cls in configs]


OUTPUT_RUN_KEY = "mlflow_run_id"


def mark_outputs(values: Mapping[str, Any], run_id: str) -> None:
    """Put the step's MLflow run id in the metadata of every artifact among `values` (a wrapper's `locals()`): what
    KFP writes back is the outputs' metadata, which travels with them, through the cache too, so a run that reuses
    a step's outputs can name the run that made them. Metrics outputs are left alone: the KFP UI shows every entry
    of their metadata as a metric."""
    for value in values.values():
        if getattr(value, "schema_title", "").endswith("Metrics"):  # Metrics, (Sliced)ClassificationMetrics
            continue
        if hasattr(value, "path") and isinstance(getattr(value, "metadata", None), dict):
            value.metadata[OUTPUT_RUN_KEY] = run_id


def run_step(
    pipeline: str,
    step: str,
    configs: Sequence[type[StepConfig]],
    values: Mapping[str, Any],
    body: Callable[..., Any],
    tags: Mapping[str, str] | None = None,
    extras: Sequence[str] = (),
) -> Any:
    """Build `configs` from `values` (see `split_settings`), then run `body(*configs)` inside the step's nested
    MLflow run, whose params are every config's settings."""
    setup_logging()
    from components.common.runinfo import kfp_run_id
    from components.common.tracking import earlier_user_error, step_run

    earlier = earlier_user_error(pipeline, step, kfp_run_id())
    if earlier:  # a retried pod of a step that failed on bad input: fail again at once
        report_error(step, f"{earlier} (an earlier attempt failed with this; not retried)")
        raise SystemExit(2)
    try:
        follow_parent()
        with signals_raise():
            built = split_settings(configs, values, extras)
            params = {k: v for config in built for k, v in config.to_params().items()}
            with step_run(pipeline, step, params, tags=tags) as active:
                result = body(*built)
                mark_outputs(values, active.info.run_id)
                return result
    except Interrupted as exc:
        print(f"recforge: step {step} stopped by {exc}", file=sys.stderr, flush=True)
        raise SystemExit(exc.exit_code) from None
    except RecforgeError as exc:
        report_error(step, exc.message)
        raise SystemExit(2) from None
    except Exception as exc:
        outage = tracking_outage(exc)
        if outage is not None:  # the tracking server went away during the step
            report_error(step, outage.message)
            raise SystemExit(2) from None
        report_error(
            step, f"internal error: {type(exc).__name__}: {first_line(exc)} (the step's log has the traceback)"
        )
        raise


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0][:500] if lines else ""


_OUTAGE_TYPES = ("ConnectionError", "ConnectionRefusedError", "MaxRetryError", "NewConnectionError", "ReadTimeout")


def tracking_outage(exc: BaseException) -> TrackingUnavailable | None:
    """A TrackingUnavailable when `exc` (or what it wraps) is a failed request to an MLflow server; else None."""
    from components.common.tracking import tracking_uri

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current)
        if type(current).__name__ in _OUTAGE_TYPES or "Max retries exceeded" in text or "API request to" in text:
            uri = os.environ.get("MLFLOW_TRACKING_URI", "")
            if uri.startswith(("http://", "https://")):
                return TrackingUnavailable(tracking_uri(), f"lost during the step ({first_line(current)[:200]})")
        current = current.__cause__ or current.__context__
    return None
