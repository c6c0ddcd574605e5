"""Base class for the frozen per-step config dataclasses: one documented field per setting.

Each step's `config.py` declares `@dataclass(frozen=True) class XConfig(StepConfig)` whose fields are created
with `setting(default, doc)`, paper defaults included, and validates itself in `__post_init__`. `to_params()`
gives the flat dictionary that becomes MLflow params and pipeline parameter defaults; `from_params()` reads
one back with type checks. Standard library only: pipeline files import these configs while compiling.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Self, get_type_hints

from components.common.errors import ConfigError

_PRIMITIVES = (bool, int, float, str)


def setting(default: Any, doc: str) -> Any:
    """A config field with its default and its one-line documentation."""
    return dataclasses.field(default=default, metadata={"doc": doc})


@dataclasses.dataclass(frozen=True)
class StepConfig:
    """Mixin for step configs; subclasses set `section` to name themselves in error messages."""

    section: ClassVar[str] = "config"

    def to_params(self) -> dict[str, bool | int | float | str]:
        """The settings as a flat name -> primitive dictionary (MLflow params, pipeline parameters)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def docs(cls) -> dict[str, str]:
        """Field name -> its documentation line."""
        return {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(cls)}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        """Build the config from a mapping, converting strings and checking names and types; unknown names are
        errors."""
        hints = get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        kwargs: dict[str, Any] = {}
        for key, value in params.items():
            if key not in names:
                raise ConfigError(f"{cls.section}.{key}", f"unknown setting; expected one of {', '.join(names)}")
            kwargs[key] = coerce(value, hints[key], f"{cls.section}.{key}")
        return cls(**kwargs)

    # --- validation helpers for __post_init__ -------------------------------------------------------
    def _where(self, name: str) -> str:
        return f"{self.section}.{name}"

    def check_choice(self, name: str, choices: Iterable[str]) -> None:
        value = getattr(self, name)
        choices = list(choices)
        if value not in choices:
            shown = ", ".join(c if c else "'' (empty)" for c in choices)
            raise ConfigError(self._where(name), f"got {value!r}; expected one of {shown}")

    def check_range(
        self,
        name: str,
        low: float | None = None,
        high: float | None = None,
        *,
        low_open: bool = False,
        high_open: bool = False,
    ) -> None:
        value = getattr(self, name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(self._where(name), f"got {value}; expected a finite number")
        bad_low = low is not None and (value <= low if low_open else value < low)
        bad_high = high is not None and (value >= high if high_open else value > high)
        if bad_low or bad_high:
            lo = "" if low is None else f"{'>' if low_open else '>='} {low}"
            hi = "" if high is None else f"{'<' if high_open else '<='} {high}"
            expected = " and ".join(part for part in (lo, hi) if part)
            raise ConfigError(self._where(name), f"got {value}; expected a value {expected}")

    def check_types(self) -> None:
        """Reject values whose Python type does not match the annotation (e.g. a str for an int)."""
        hints = get_type_hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            expected = hints[f.name]
            ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, f.name, float(value))
                ok = True
            if not ok:
                raise ConfigError(self._where(f.name), f"got {value!r}; expected a value of type {expected.__name__}")
            if expected is int and abs(value) > MAX_INT:  # what numpy, torch and JSON readers all hold exactly
                raise ConfigError(self._where(f.name), f"got {value}; expected an integer within +-2**53")


MAX_INT = 2**53


def coerce(value: Any, kind: type, where: str) -> Any:
    """Convert `value` (often a command-line string) to the primitive type `kind`."""
    if kind not in _PRIMITIVES:
        raise ConfigError(where, f"unsupported setting type {kind!r}")
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            if kind is bool:
                lowered = text.lower()
                if lowered in ("true", "1", "yes", "on"):
                    return True
                if lowered in ("false", "0", "no", "off"):
                    return False
                raise ValueError(text)
            if kind is int:
                return int(text)
            if kind is float:
                return float(text)
            return value
        except ValueError:
            pass
    raise ConfigError(where, f"got {value!r}; expected a value of type {kind.__name__}")


def parse_time(text: str, where: str) -> int:
    """'' -> 0 (no limit); Unix seconds; or an ISO-8601 time such as KFP's schedule time '2026-11-26T05:00:00Z'."""
    from datetime import datetime

    value = text.strip()
    if not value:
        return 0
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        raise ConfigError(where, f"got {text!r}; expected Unix seconds or an ISO-8601 time") from None


def scheduled_time(text: str) -> str:
    """KFP's schedule time of a recurring run as given to a step; '' when there is none (a one-off run, where KFP
    leaves the placeholder unresolved or empty, or a local run)."""
    value = text.strip()
    if not value or "{{" in value:
        return ""
    try:
        return value if parse_time(value, "schedule_time") > 86400 else ""
    except ConfigError:
        return ""
