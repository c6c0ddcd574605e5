"""The layering of `components/` (DESIGN.md, Layout): a step imports `common/` and the shared floor `recsys/` only,
never another step and never `pipelines`; `recsys/` imports `common/` only; `common/` imports nothing above it;
no module takes part in an import cycle. Read from the source with `ast` (function-level imports included), so
nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOORS = ("common", "recsys")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every absolute module name `path` imports, anywhere in the file (`from a.b import c` gives a.b and a.b.c)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.relative_to(ROOT)}: relative import; expected absolute imports"
            if node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (names that are not modules, e.g. classes, dropped)."""
    files = {_module_name(p): p for d in ("components", "pipelines") for p in (ROOT / d).rglob("*.py")}
    return {name: {m for m in _imports(path) if m in files and m != name} for name, path in files.items()}


def _unit(module: str) -> str:
    """`components.<unit>...` -> unit (a floor or a step); `pipelines...` -> 'pipelines'."""
    parts = module.split(".")
    return parts[0] if parts[0] != "components" or len(parts) == 1 else parts[1]


def _violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(graph.items()):
        if not module.startswith("components."):
            continue
        mine = _unit(module)
        for target in sorted(targets):
            theirs = _unit(target)
            if theirs in (mine, "components"):
                continue
            allowed = () if mine == "common" else ("common",) if mine == "recsys" else FLOORS
            if theirs not in allowed:
                bad.append(f"{module} imports {target}")
    return bad


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a cycle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_step_imports_another_step_or_pipelines() -> None:
    graph = _graph()
    assert any(m.startswith("components.recsys.") for m in graph), "the shared floor components/recsys is missing"
    assert _violations(graph) == []


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"components.align.x": {"components.evaluate.y"}, "components.evaluate.y": set()}, 1),  # step -> step
        ({"components.recsys.x": {"components.align.y"}, "components.align.y": set()}, 1),  # floor -> step
        ({"components.common.x": {"components.recsys.y"}, "components.recsys.y": set()}, 1),  # floor 1 -> floor 2
        ({"components.align.x": {"pipelines.cli"}, "pipelines.cli": set()}, 1),  # runtime -> compile layer
        ({"components.align.x": {"components.recsys.y", "components.common.z"}}, 0),  # allowed
    ],
)
def test_the_checker_catches_each_kind_of_violation(graph: dict[str, set[str]], expected: int) -> None:
    assert len(_violations(graph)) == expected


def test_the_checker_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from components.common.b import g\n", encoding="utf-8")
    assert "components.common.b" in _imports(source)
    graph = {"components.common.a": {"components.common.b"}, "components.common.b": {"components.common.a"}}
    assert _cycles(graph) == [["components.common.a", "components.common.b"]]
