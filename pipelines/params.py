"""Pipeline parameters derived from the step configs, so each setting is declared and documented once.

A pipeline module declares `PARAMETERS = Parameters((PrepareConfig, SFTConfig, ...), extra={"losses": (list,
[...], "doc")})` once; `PARAMETERS.signature(settings)` gives its pipeline function the keyword parameters named,
typed and defaulted like the configs' fields (KFP reads them through `inspect.signature`), the CLI and the
catalog read `PARAMETERS.table(settings)`, and `pick(args, Config)` forwards a config's share to its step.
Built for a cluster, the pipeline's DAG runs inside a `dsl.ExitHandler` that closes the MLflow parent run
(pipelines/cluster.py) and returns no pipeline outputs.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar, get_type_hints

from pipelines.settings import CompileSettings

F = TypeVar("F", bound=Callable[..., Any])


class Parameter(NamedTuple):
    kind: type
    default: Any
    doc: str


def pick(namespace: Mapping[str, Any], config_class: type, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """{field: namespace[field]} for every field of `config_class` (a step config dataclass) not excluded."""
    return {f.name: namespace[f.name] for f in dataclasses.fields(config_class) if f.name not in exclude}


@dataclass(frozen=True)
class Parameters:
    """A pipeline's parameters: `extra` (name -> (type, default, doc)) then every field of `configs` in declaration
    order, less `exclude` (fields the DAG fills itself, e.g. from a ParallelFor).

    `defaults` overrides a config field's default for this pipeline (e.g. the dataset it needs).
    `per_gpu` names process-count fields (`sft_nproc`, ...) whose default becomes the `--gpus` count when the
    pipeline is compiled with GPUs, so that torchrun starts one process per accelerator of the step; `per_node`
    names node-count fields (`sft_nodes`, ...) whose default becomes the `--nodes` count.
    """

    configs: tuple[type, ...]
    extra: Mapping[str, tuple[type, Any, str]] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    per_gpu: tuple[str, ...] = ()
    per_node: tuple[str, ...] = ()

    def table(self, settings: CompileSettings) -> dict[str, Parameter]:
        """Parameter name -> (type, default under `settings`, documentation line)."""
        compiled: dict[str, int] = {}
        if settings.gpu.gpus:
            compiled.update(dict.fromkeys(self.per_gpu, settings.gpu.gpus))
        if settings.gpu.nodes > 1:
            compiled.update(dict.fromkeys(self.per_node, settings.gpu.nodes))
        table = {name: Parameter(*spec) for name, spec in self.extra.items()}
        for cls in self.configs:
            hints, defaults, docs = get_type_hints(cls), cls(), cls.docs()
            for f in dataclasses.fields(cls):
                if f.name not in table and f.name not in self.exclude:
                    default = compiled.get(f.name, self.defaults.get(f.name, getattr(defaults, f.name)))
                    table[f.name] = Parameter(hints[f.name], default, docs[f.name])
        unknown = sorted(set(self.defaults) - set(table))
        if unknown:
            raise ValueError(f"defaults name {unknown}, which no config of this pipeline has")
        return table

    def signature(self, settings: CompileSettings) -> Callable[[F], F]:
        """Decorator: the function's signature becomes the parameters of `table(settings)`."""
        params = [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=p.default, annotation=p.kind)
            for name, p in self.table(settings).items()
        ]

        def decorate(fn: F) -> F:
            # on a cluster the DAG runs inside an exit handler, and KFP takes pipeline outputs from the top level only
            returns = inspect.signature(fn).return_annotation if settings.local else None
            signature = inspect.Signature(params, return_annotation=returns)

            @functools.wraps(fn)
            def pipeline(*args: Any, **kwargs: Any) -> Any:  # KFP passes the parameters positionally
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                if settings.local:
                    return fn(**bound.arguments)
                from pipelines.cluster import under_exit_handler

                under_exit_handler(settings, lambda: fn(**bound.arguments))
                return None

            pipeline.__signature__ = signature  # type: ignore[attr-defined]
            # KFP reads each parameter's description from the docstring's Args section (compiled into the IR)
            args_section = "\n".join(f"    {name}: {p.doc}" for name, p in self.table(settings).items())
            pipeline.__doc__ = f"{(fn.__doc__ or fn.__name__).strip()}\n\nArgs:\n{args_section}\n"
            pipeline.__annotations__ = {p.name: p.annotation for p in params} | {"return": signature.return_annotation}
            del pipeline.__wrapped__  # KFP must read the new signature, not the wrapped function's
            return pipeline  # type: ignore[return-value]

        return decorate
