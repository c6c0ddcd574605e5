"""A sequential batch edit run: AlphaEdit or MEMIT applied batch after batch to one model, no weight restore.

Per batch (reference `AlphaEdit_main.py` / MEMIT `execute_memit`): v* of every request at the last edited layer;
then, for each edited layer in ascending order, keys K1 on the current model, residuals
R = (v* − current value at the last layer) / (layers left, this one included), Δ from the shared solve, W += Δ;
AlphaEdit finally adds the edited model's K1 K1ᵀ to Kp Kpᵀ of its layer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.common.errors import ConfigError
from components.edit_knowledge.alphaedit import UpdateRule, solve_update
from components.edit_knowledge.facts import EditRequest, check_request
from components.edit_knowledge.layers import apply_update, key_size, weight_matrix
from components.edit_knowledge.targets import TargetSettings, current_values, keys_for, target_value

log = logging.getLogger(__name__)


@dataclass
class EditState:
    """What a method carries from batch to batch: Kp Kpᵀ per layer (AlphaEdit) and the number of edits."""

    layers: list[int]
    rule: UpdateRule
    projectors: Mapping[int, Any] = field(default_factory=dict)  # layer -> P (d_ff, d_ff)
    covs: Mapping[int, Any] = field(default_factory=dict)  # layer -> E[k kᵀ] (d_ff, d_ff)
    previous: dict[int, Any] = field(default_factory=dict)  # layer -> Kp Kpᵀ (d_ff, d_ff)
    edits: int = 0


def edit_batch(
    model: Any,
    tokenizer: Any,
    requests: Sequence[EditRequest],
    state: EditState,
    templates: Sequence[str],
    settings: TargetSettings,
) -> dict[str, float]:
    """Apply one batch of edits in place; returns timings and the mean v* optimisation record."""
    import torch

    if not requests:
        raise ConfigError("edit requests", "empty edit batch; expected at least one request")
    for index, request in enumerate(requests):
        check_request(request, f"edit request {state.edits + index}")
    started = time.time()
    last = state.layers[-1]
    records = []
    values = []
    for request in requests:
        value, record = target_value(model, tokenizer, request, last, templates, settings)
        values.append(value)
        records.append(record)
    targets = torch.stack(values, dim=1).to(torch.float64)  # (d_model, u)
    target_seconds = time.time() - started
    for position, layer in enumerate(state.layers):
        keys = keys_for(model, tokenizer, requests, layer, templates).to(torch.float64)  # (d_ff, u)
        current = current_values(model, tokenizer, requests, last).to(torch.float64)  # (d_model, u)
        residuals = (targets - current) / (len(state.layers) - position)  # (d_model, u)
        delta = solve_update(
            residuals,
            keys,
            state.rule,
            projector=state.projectors.get(layer),
            previous=state.previous.get(layer),
            cov=state.covs.get(layer),
        )
        apply_update(model, layer, delta)
    if state.rule.accumulate:
        for layer in state.layers:
            keys = keys_for(model, tokenizer, requests, layer, templates).to(torch.float64)
            size = key_size(model, layer)
            state.previous[layer] = state.previous.get(layer, torch.zeros(size, size, dtype=torch.float64)) + (
                keys @ keys.T
            )
    state.edits += len(requests)
    return {
        "seconds": time.time() - started,
        "target_seconds": target_seconds,
        "target_nll": sum(r["nll"] for r in records) / len(records),
        "delta_norm_ratio": sum(r["delta_norm_ratio"] for r in records) / len(records),
    }


def run_sequence(
    model: Any,
    tokenizer: Any,
    requests: Sequence[EditRequest],
    state: EditState,
    templates: Sequence[str],
    settings: TargetSettings,
    batch_size: int,
    after_batch: Callable[[int, Sequence[EditRequest], dict[str, float]], None],
) -> None:
    """Edit `requests` in batches of `batch_size`; `after_batch(edits_so_far, edited_so_far, timings)` runs
    after each (the evaluation)."""
    if not requests:
        raise ConfigError("edit requests", "the edit set is empty; expected at least one request")
    for start in range(0, len(requests), batch_size):
        batch = requests[start : start + batch_size]
        timings = edit_batch(model, tokenizer, batch, state, templates, settings)
        log.info(
            "edits %d/%d: %.1fs (v* %.1fs), mean v* nll %.3f, |W| layer %d %.3f",
            state.edits,
            len(requests),
            timings["seconds"],
            timings["target_seconds"],
            timings["target_nll"],
            state.layers[-1],
            float(weight_matrix(model, state.layers[-1]).detach().norm()),
        )
        after_batch(state.edits, requests[: start + len(batch)], timings)
