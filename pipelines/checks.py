"""Checks of pipeline parameters that no single step config can make (standard library only)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from components.align.losses import LOSSES
from components.common.errors import ConfigError


def check_names(params: dict[str, Any], key: str, allowed: Iterable[str], kind: str) -> list[str]:
    """`params[key]` must be a non-empty list of distinct `kind` names among `allowed`; returns it."""
    allowed = list(allowed)
    names = params.get(key)
    if not isinstance(names, list) or not names:
        raise ConfigError(key, f"got {names!r}; expected a non-empty list of {kind} names ({', '.join(allowed)})")
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise ConfigError(key, f"unknown {kind} {unknown[0]!r}; expected names among {', '.join(allowed)}")
    if len(set(names)) != len(names):
        raise ConfigError(key, f"{names} names a {kind} twice; expected each once")
    return names


def check_losses(params: dict[str, Any]) -> None:
    check_names(params, "losses", LOSSES, "loss")


def check_methods(params: dict[str, Any]) -> None:
    from components.edit_knowledge.config import METHODS

    check_names(params, "methods", METHODS, "method")


def check_kge_models(params: dict[str, Any]) -> None:
    from components.train_kge.config import OUR_MODELS, PYKEEN_MODELS

    check_names(params, "models", [*OUR_MODELS, *PYKEEN_MODELS], "model")
