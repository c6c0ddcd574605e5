"""Forwarding pipeline parameters to a step: the parameters named like the fields of its config."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


def pick(namespace: Mapping[str, Any], config_class: type) -> dict[str, Any]:
    """{field: namespace[field]} for every field of `config_class` (a step config dataclass)."""
    return {f.name: namespace[f.name] for f in dataclasses.fields(config_class)}
