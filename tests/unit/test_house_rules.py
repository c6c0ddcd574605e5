"""House rules that a green run could otherwise miss: light pipeline modules, docstrings, no machine paths."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIGHT_OK = {"kfp", "pipelines", "components"}
HEAVY = {"torch", "transformers", "trl", "peft", "diffusers", "deepspeed", "mlflow", "pyarrow", "numpy", "pandas"}


def _python_files() -> list[Path]:
    return sorted(p for d in ("components", "pipelines", "tests") for p in (ROOT / d).rglob("*.py"))


def _module_level_imports(path: Path) -> list[str]:
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_pipeline_and_wrapper_modules_import_only_stdlib_and_kfp() -> None:
    files = list((ROOT / "pipelines").glob("*.py")) + list((ROOT / "components").glob("*/component.py"))
    assert files
    for path in files:
        for name in _module_level_imports(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top in LIGHT_OK, f"{path.name} imports {name} at module level"
            assert top not in HEAVY
            if top == "components":  # project modules they import must be light too
                target = ROOT / Path(*name.split(".")).with_suffix(".py")
                assert target.is_file(), name
                for inner in _module_level_imports(target):
                    assert inner.split(".")[0] not in HEAVY, f"{name} imports {inner}"


def test_every_module_has_a_docstring() -> None:
    for path in _python_files():
        if path.name == "__init__.py" and not path.read_text().strip():
            continue
        assert ast.get_docstring(ast.parse(path.read_text())), f"{path.relative_to(ROOT)} has no module docstring"


def test_no_machine_paths_in_the_project() -> None:
    banned = ("/wor" + "k/", "/roo" + "t/", "/hom" + "e/")
    for path in [*_python_files(), ROOT / "README.md", ROOT / "pyproject.toml"]:
        if path.is_file():
            text = path.read_text()
            assert not any(b in text for b in banned), f"{path.relative_to(ROOT)} names a machine path"


def test_ruff_lint_and_format_are_clean() -> None:
    import subprocess

    for args in (["check", "."], ["format", "--check", "."]):
        done = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_readme_documents_every_pipeline_parameter() -> None:
    from pipelines import catalog

    readme = (ROOT / "README.md").read_text()
    for entry in catalog.PIPELINES.values():
        assert f"`{entry.name}`" in readme, entry.name
        for cls in entry.config_classes():
            for name in cls.docs():
                if name not in entry.parameters.exclude:
                    assert f"| {name} |" in readme, f"README lacks parameter {name} of {entry.name}"


def _all_imports(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file, nested ones included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_every_third_party_import_is_declared() -> None:
    """What components/ and pipelines/ import is a dependency of pyproject.toml (or of one of its extras), so that
    an install from it alone runs every step: an import that works only because another package pulls it in
    breaks when that package changes."""
    import re
    import tomllib
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    requirements = [*project["dependencies"], *(r for extra in extras for r in extra)]

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    declared = {canonical(re.split(r"[=<>\[;! ]", r, maxsplit=1)[0]) for r in requirements}
    providers = packages_distributions()
    files = [p for d in ("components", "pipelines") for p in (ROOT / d).rglob("*.py")]
    undeclared = {}
    for path in files:
        for top in _all_imports(path) - set(sys.stdlib_module_names) - LIGHT_OK - {"__future__"}:
            dists = {canonical(d) for d in providers.get(top, [top])}
            if not dists & declared:
                undeclared.setdefault(top, path.relative_to(ROOT).as_posix())
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
