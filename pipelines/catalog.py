"""The pipelines recforge knows, read from their modules: each module declares its name, description, parameters
(`PARAMETERS`), key metrics and checks once, and builds its DAG with `build(settings)`."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from components.common.errors import ConfigError
from pipelines.params import Parameter, Parameters
from pipelines.settings import LOCAL, CompileSettings

MODULES = (
    "pipelines.prepare_data",
    "pipelines.sft_rec",
    "pipelines.rec_alignment",
    "pipelines.realtime_icl",
    "pipelines.ilora",
    "pipelines.knowledge_edit",
    "pipelines.pigeon",
    "pipelines.prompt_personalization",
    "pipelines.kg_embedding",
    "pipelines.social_steering",
)


@dataclass(frozen=True)
class Entry:
    """One pipeline, as its module declares it."""

    module: ModuleType

    @property
    def name(self) -> str:
        return self.module.NAME

    @property
    def description(self) -> str:
        return self.module.DESCRIPTION

    @property
    def parameters(self) -> Parameters:
        return self.module.PARAMETERS

    @property
    def key_metrics(self) -> tuple[str, ...]:
        return self.module.KEY_METRICS

    @property
    def checks(self) -> tuple[Callable[[dict[str, Any]], None], ...]:
        """Checks of the full parameter dict that no single step config can make."""
        return getattr(self.module, "CHECKS", ())

    def build(self, settings: CompileSettings = LOCAL) -> Any:
        """The KFP pipeline object (a GraphComponent) built with `settings`."""
        return self.module.build(settings)

    def table(self, settings: CompileSettings = LOCAL) -> dict[str, Parameter]:
        return self.parameters.table(settings)

    def config_classes(self) -> tuple[type, ...]:
        return self.parameters.configs

    def run_checks(self, params: dict[str, Any]) -> None:
        for check in self.checks:
            check(params)

    @property
    def multi_node(self) -> bool:
        """Whether a step can run across nodes (`--nodes M`)."""
        return bool(self.parameters.per_node)


PIPELINES: dict[str, Entry] = {
    entry.name: entry for entry in (Entry(importlib.import_module(module)) for module in MODULES)
}


def get(name: str) -> Entry:
    if name not in PIPELINES:
        raise ConfigError("pipeline", f"unknown pipeline {name!r}; expected one of {', '.join(PIPELINES)}")
    return PIPELINES[name]
