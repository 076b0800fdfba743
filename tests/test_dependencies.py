"""Every module the installed commands import at start-up comes with a plain `pip install .`."""

from __future__ import annotations

import ast
import contextlib
import re
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
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


def _names(specs: list[str]) -> set[str]:
    return {_normal(re.split(r"[\s<>=!;\[~]", spec, maxsplit=1)[0]) for spec in specs}


def required_distributions(extra: str | None = None) -> set[str]:
    """The distributions a plain install brings; with `extra`, also that extra's (and what
    those need in turn, one level down: numpy comes with scipy)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = _names(project["dependencies"])
    if extra is None:
        return names
    extras = _names(project["optional-dependencies"][extra])
    for name in list(extras):
        with contextlib.suppress(PackageNotFoundError):
            extras |= _names([r for r in requires(name) or [] if "extra ==" not in r])
    return names | extras


def missing(entry: str, extra: str | None = None) -> dict[str, list[str]]:
    owners, have = packages_distributions(), required_distributions(extra)
    return {module: owners.get(module, ["?"]) for module in start_up_imports(entry)
            if not {_normal(d) for d in owners.get(module, [])} & have}


def test_a_plain_install_has_what_leadgrab_imports() -> None:
    assert not missing("leadgrab.cli"), "pyproject's dependencies lack these"


def test_the_load_tester_needs_only_the_plain_install_and_its_extra() -> None:
    """`leadgrab-loadtest` crashed with ModuleNotFoundError: tqdm after `pip install .`: its
    light needs are plain dependencies now, and whatever else it imports the extra brings."""
    assert not {m for m in missing("loadtest.cli") if m in ("tqdm", "hdrh")}
    assert not missing("loadtest.cli", "loadtest"), "the loadtest extra lacks these"


def test_the_walk_sees_the_load_tester_s_needs() -> None:
    assert {"tqdm", "hdrh", "websockets"} <= start_up_imports("loadtest.cli")
    assert "matplotlib" not in start_up_imports("loadtest.cli")  # only with --png


@pytest.mark.parametrize("absent", ["scipy", "tqdm"])
def test_a_missing_module_is_one_line_naming_the_extra(absent: str) -> None:
    probe = (f"import sys; sys.modules[{absent!r}] = None; "
             "from leadgrab.loadtester import main; raise SystemExit(main(['--help']))")
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert ran.returncode == 2 and ran.stdout == ""
    assert ran.stderr == (f"leadgrab-loadtest: needs the module {absent!r}, which the load "
                          "tester's extra installs: pip install 'leadgrab[loadtest]'\n")


def test_with_everything_installed_it_runs() -> None:
    ran = subprocess.run([sys.executable, "-c", "from leadgrab.loadtester import main; "
                          "raise SystemExit(main(['--help']))"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert ran.returncode == 0 and "--scenario" in ran.stdout
