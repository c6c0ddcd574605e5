"""Trainer callbacks shared by the training steps: metrics into the step's MLflow run, progress lines for logs.

Classes are built on first use so that importing this module needs no transformers.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class MlflowMetrics:
    """Trainer callback: every logged number (loss, learning rate, rewards, ...) into the step's MLflow run, rank 0."""

    def __new__(cls, run_id: str | None) -> Any:
        from transformers import TrainerCallback

        class _Callback(TrainerCallback):
            def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
                if not run_id or not state.is_world_process_zero or not logs:
                    return
                import mlflow

                client = mlflow.MlflowClient()
                for key, value in logs.items():
                    if not isinstance(value, int | float) or any(s in key for s in ("runtime", "per_second", "epoch")):
                        continue
                    name = f"train_{key}" if key in ("loss", "learning_rate", "grad_norm") else key
                    client.log_metric(run_id, name, float(value), step=state.global_step)

        return _Callback()


class ProgressLog:
    """Trainer callback: a progress line every 5% of the steps, for logs that are not a terminal (KFP pods)."""

    def __new__(cls, label: str = "training") -> Any:
        import time

        from transformers import TrainerCallback

        class _Callback(TrainerCallback):
            started = 0.0

            def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                self.started = time.perf_counter()

            def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
                every = max(1, state.max_steps // 20)
                if not state.is_world_process_zero or (
                    state.global_step % every and state.global_step != state.max_steps
                ):
                    return
                elapsed = time.perf_counter() - self.started
                done = state.global_step / max(state.max_steps, 1)
                losses = [h["loss"] for h in state.log_history if "loss" in h]
                loss = f", loss {losses[-1]:.4f}" if losses else ""
                eta = elapsed / max(done, 1e-9) * (1 - done)
                log.info("%s step %d/%d (%.0f%%)%s, %.0fs elapsed, ~%.0fs left",
                         label, state.global_step, state.max_steps, 100 * done, loss, elapsed, eta)  # fmt: skip

        return _Callback()
