"""Pipeline parameters derived from the step configs, so each setting is declared and documented once.

`parameters_of(PrepareConfig, SFTConfig, ..., extra={"losses": (list, [...])})` gives a pipeline function the
keyword parameters named, typed and defaulted like the configs' fields (KFP reads them through
`inspect.signature`); `pick(args, Config)` forwards a config's share of them to its step.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, get_type_hints

F = TypeVar("F", bound=Callable[..., Any])


def pick(namespace: Mapping[str, Any], config_class: type, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """{field: namespace[field]} for every field of `config_class` (a step config dataclass) not excluded."""
    return {f.name: namespace[f.name] for f in dataclasses.fields(config_class) if f.name not in exclude}


def parameters_of(
    *config_classes: type,
    extra: Mapping[str, tuple[type, Any]] | None = None,
    exclude: tuple[str, ...] = (),
    per_gpu: tuple[str, ...] = (),
    per_node: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """Decorator: the function's signature becomes `extra` then every config field (in declaration order).

    `per_gpu` names process-count fields (`sft_nproc`, ...) whose default becomes the `--gpus` count when the
    pipeline is compiled with GPUs, so that torchrun starts one process per accelerator of the step; `per_node`
    names node-count fields (`sft_nodes`, ...) whose default becomes the `--nodes` count.
    """
    from pipelines.accelerators import from_env

    settings = from_env()
    compiled: dict[str, int] = {}
    if settings.gpus:
        compiled.update(dict.fromkeys(per_gpu, settings.gpus))
    if settings.nodes > 1:
        compiled.update(dict.fromkeys(per_node, settings.nodes))

    def decorate(fn: F) -> F:
        params = [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=kind)
            for name, (kind, default) in (extra or {}).items()
        ]
        seen = set(extra or {})
        for cls in config_classes:
            hints, defaults = get_type_hints(cls), cls()
            for field in dataclasses.fields(cls):
                if field.name in seen or field.name in exclude:
                    continue
                seen.add(field.name)
                params.append(
                    inspect.Parameter(
                        field.name,
                        inspect.Parameter.POSITIONAL_OR_KEYWORD,
                        default=compiled.get(field.name, getattr(defaults, field.name)),
                        annotation=hints[field.name],
                    )
                )
        signature = inspect.Signature(params, return_annotation=inspect.signature(fn).return_annotation)

        @functools.wraps(fn)
        def pipeline(*args: Any, **kwargs: Any) -> Any:  # KFP passes the parameters positionally
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return fn(**bound.arguments)

        pipeline.__signature__ = signature  # type: ignore[attr-defined]
        pipeline.__annotations__ = {p.name: p.annotation for p in params} | {"return": signature.return_annotation}
        del pipeline.__wrapped__  # KFP must read the new signature, not the wrapped function's
        return pipeline  # type: ignore[return-value]

    return decorate
