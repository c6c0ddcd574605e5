"""Checks of pipeline parameters that no single step config can make (standard library only)."""

from __future__ import annotations

from typing import Any

from components.align.losses import LOSSES
from components.common.errors import ConfigError


def check_losses(params: dict[str, Any]) -> None:
    losses = params.get("losses")
    if not isinstance(losses, list) or not losses:
        raise ConfigError("losses", f"got {losses!r}; expected a non-empty list of loss names ({', '.join(LOSSES)})")
    unknown = [name for name in losses if name not in LOSSES]
    if unknown:
        raise ConfigError("losses", f"unknown loss {unknown[0]!r}; expected names among {', '.join(LOSSES)}")
    if len(set(losses)) != len(losses):
        raise ConfigError("losses", f"{losses} names a loss twice; expected each once")
    if "sft" in losses:
        raise ConfigError("losses", "'sft' is the reference model, evaluated anyway; expected loss names only")
