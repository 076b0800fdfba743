"""Every module the installed commands import at start-up comes with a plain `pip install .`."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from tests.conftest import ROOT

OURS = ("leadgrab", "server", "clients", "loadtest")


def _source(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.exists():
            return path
    return None


def _imports(path: Path) -> set[str]:
    """Modules imported at module level (what runs on import, not inside a function)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def start_up_imports(entry: str) -> set[str]:
    """Third-party top-level modules reached from `entry` through module-level imports."""
    seen, todo, external = set(), [entry], set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _source(module)
        for name in _imports(path) if path else ():
            top = name.split(".")[0]
            if top in OURS:
                todo.extend(name.rsplit(".", i)[0] for i in range(name.count(".") + 1))
            elif top not in sys.stdlib_module_names and top != "__future__":
                external.add(top)
    return external


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def required_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_normal(re.split(r"[\s<>=!;\[~]", spec, maxsplit=1)[0])
            for spec in project["dependencies"]}


@pytest.mark.parametrize("entry", ["leadgrab.cli", "loadtest.cli"])
def test_a_plain_install_has_what_each_command_imports(entry: str) -> None:
    """`leadgrab-loadtest` crashed with ModuleNotFoundError: tqdm after `pip install .`."""
    owners, required = packages_distributions(), required_distributions()
    missing = {module: owners.get(module, ["?"]) for module in start_up_imports(entry)
               if not {_normal(d) for d in owners.get(module, [])} & required}
    assert not missing, f"{entry} imports these on start-up; pyproject lacks them: {missing}"


def test_the_walk_sees_the_load_tester_s_needs() -> None:
    assert {"tqdm", "hdrh", "websockets"} <= start_up_imports("loadtest.cli")
    assert "matplotlib" not in start_up_imports("loadtest.cli")  # only with --png
