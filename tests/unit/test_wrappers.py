"""One source per fact: every KFP step wrapper's settings are exactly the fields of the configs it hands to
`run_step`, so a field added to a config and forgotten in the wrapper (or a stray wrapper parameter) fails here;
and `run_step` builds several configs from a wrapper's parameters and refuses what no config knows.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import textwrap
from pathlib import Path

import pytest

from components.common.errors import ConfigError
from components.common.step import PLUMBING, split_settings
from components.recsys.icl_config import ICLConfig
from components.train_sft.config import SFTConfig

ROOT = Path(__file__).resolve().parents[2]
PRIMITIVE = {"String", "Integer", "Double", "Float", "Boolean", "List", "Struct"}


def _wrappers() -> list[tuple[str, object]]:
    found = []
    for path in sorted((ROOT / "components").glob("*/component.py")):
        module = importlib.import_module(f"components.{path.parent.name}.component")
        for name, obj in vars(module).items():
            if hasattr(obj, "component_spec") and hasattr(obj, "python_func") and path.parent.name != "close_run":
                found.append((f"{path.parent.name}.{name}", obj))  # close_run: an exit handler, no step of its own
    return found


def _run_step_call(func: object) -> tuple[list[type], tuple[str, ...], ast.Call]:
    """The config classes and extras of the wrapper's `run_step(...)` call, resolved through its own imports."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    imported = {
        alias.asname or alias.name: f"{node.module}:{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "run_step"]
    assert len(calls) == 1, "a wrapper calls run_step once"
    call = calls[0]
    configs_node = call.args[2]
    assert isinstance(configs_node, ast.Tuple), "run_step's configs are a literal tuple"
    configs = []
    for element in configs_node.elts:
        module, _, name = imported[element.id].partition(":")
        configs.append(getattr(importlib.import_module(module), name))
    extras: tuple[str, ...] = ()
    for keyword in call.keywords:
        if keyword.arg == "extras":
            extras = tuple(ast.literal_eval(keyword.value))
    return configs, extras, call


WRAPPERS = _wrappers()


def test_every_step_wrapper_is_found() -> None:
    assert len(WRAPPERS) >= 20


@pytest.mark.parametrize(("name", "wrapper"), WRAPPERS, ids=[name for name, _ in WRAPPERS])
def test_wrapper_parameters_are_its_config_fields(name: str, wrapper: object) -> None:
    configs, extras, call = _run_step_call(wrapper.python_func)
    inputs = wrapper.component_spec.inputs or {}
    parameters = {key for key, spec in inputs.items() if spec.type in PRIMITIVE}
    fields = {f.name for cls in configs for f in dataclasses.fields(cls)}
    outputs = {key for key, spec in (wrapper.component_spec.outputs or {}).items()}
    if not configs:  # a step without settings hands run_step its output artifacts only (to mark with its run)
        values = call.args[3]
        assert isinstance(values, ast.Dict), f"{name}: run_step's values are a literal dict"
        handed = {ast.literal_eval(k): v.id for k, v in zip(values.keys, values.values, strict=True)}
        assert handed == {key: key for key in outputs}, f"{name} hands run_step {handed}, expected its outputs"
        assert not parameters & fields_of_every_config(), f"{name} takes a setting no config of it parses"
        return
    assert isinstance(call.args[3], ast.Name) and call.args[3].id == "settings"
    missing = fields - parameters
    stray = parameters - fields - set(PLUMBING) - set(extras)
    assert not missing, f"{name} lacks config fields {sorted(missing)}"
    assert not stray, f"{name} takes {sorted(stray)}, fields of none of {[c.__name__ for c in configs]}"
    assert not {"kfp_run_id", "kfp_job_name"} & set(inputs), f"{name}: a run-dependent input defeats KFP's cache"
    first = ast.parse(textwrap.dedent(inspect.getsource(wrapper.python_func))).body[0].body
    statements = [s for s in first if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    assert ast.unparse(statements[0]) == "settings = dict(locals())", f"{name}: take locals() before any import"


def fields_of_every_config() -> set[str]:
    names: set[str] = set()
    for _, wrapper in WRAPPERS:
        configs, _, _ = _run_step_call(wrapper.python_func)
        names |= {f.name for cls in configs for f in dataclasses.fields(cls)}
    return names


class _Artifact:
    path = "/tmp/artifact"


def test_split_settings_builds_two_configs_and_sets_plumbing_aside() -> None:
    values = {
        **SFTConfig(sft_epochs=2.0).to_params(),
        **ICLConfig(icl_demos=3).to_params(),
        "pipeline": "p",
        "schedule_time": "",
        "prepared": _Artifact(),
        "fifth": None,
        "upper_bound": True,
    }
    sft, icl = split_settings((SFTConfig, ICLConfig), values, extras=("upper_bound",))
    assert sft == SFTConfig(sft_epochs=2.0) and icl == ICLConfig(icl_demos=3)


def test_split_settings_refuses_an_unknown_key() -> None:
    values = {**ICLConfig().to_params(), "upper_bound": True}
    with pytest.raises(ConfigError, match=r"^step\.upper_bound: unknown setting; expected one of "):
        split_settings((ICLConfig,), values)


def test_split_settings_parses_each_config_strictly() -> None:
    with pytest.raises(ConfigError, match=r"^sft\.sft_epochs: got 'many'; expected a value of type float$"):
        split_settings((SFTConfig,), {"sft_epochs": "many"})
