"""KFP step wrappers whose settings parameters are generated from the step's config dataclasses, so that each
setting is declared once (in its config) and no wrapper lists config fields by hand.

A wrapper is written as a plain function whose parameters are what is not a setting (the plumbing every step takes,
its artifacts, a few step-specific values) followed by `**settings`. `@step_component(SFTConfig, ..., base_image=)`
rewrites that one `def` line: `**settings` becomes one annotated parameter per config field, in declaration order;
the rest of the source is kept. The result is compiled under a pseudo file name that `linecache` holds, so KFP
reads its source like any other function's and embeds it in the compiled pipeline, and is handed to
`dsl.component`. Inside the generated function `locals()` holds every setting, which the body passes to `run_step`.
Standard library and kfp only: compiling reads this module.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import linecache
import textwrap
from collections.abc import Callable
from typing import Any, get_type_hints

from kfp import dsl


def settings_parameters(configs: tuple[type, ...]) -> list[ast.arg]:
    """One annotated parameter per field of `configs` (the first config declaring a name wins)."""
    params: dict[str, ast.arg] = {}
    for cls in configs:
        hints = get_type_hints(cls)
        for field in dataclasses.fields(cls):
            params.setdefault(field.name, ast.arg(arg=field.name, annotation=ast.Name(id=hints[field.name].__name__)))
    return list(params.values())


def generated_source(fn: Callable[..., Any], configs: tuple[type, ...]) -> str:
    """The source of `fn` with its `**settings` replaced by the fields of `configs`, without decorators."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    definition = tree.body[0]
    if not isinstance(definition, ast.FunctionDef) or definition.args.kwarg is None:
        raise TypeError(f"{fn.__qualname__}: a step wrapper ends its parameters with **settings")
    if definition.args.defaults:
        raise TypeError(f"{fn.__qualname__}: a step wrapper with settings has no parameter defaults")
    taken = {a.arg for a in definition.args.args}
    clash = [a.arg for a in settings_parameters(configs) if a.arg in taken]
    if clash:
        raise TypeError(f"{fn.__qualname__}: parameters {clash} are config fields; leave them to **settings")
    definition.decorator_list = []
    definition.args.args += settings_parameters(configs)
    definition.args.kwarg = None
    return ast.unparse(definition) + "\n"


def step_component(*configs: type, base_image: str) -> Callable[[Callable[..., Any]], Any]:
    """Decorator: `dsl.component(base_image=..., install_kfp_package=False)` of the wrapper with its settings
    parameters generated from `configs`."""

    def decorate(fn: Callable[..., Any]) -> Any:
        source = generated_source(fn, configs)
        filename = f"<recforge step {fn.__module__}.{fn.__qualname__}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        namespace = dict(fn.__globals__)
        code = compile(source, filename, "exec", dont_inherit=True)  # no `annotations` future: KFP reads real types
        exec(code, namespace)  # the wrapper's own code, with its parameters spelled out
        generated = namespace[fn.__name__]
        generated.__module__ = fn.__module__
        return dsl.component(base_image=base_image, install_kfp_package=False)(generated)

    return decorate
