"""The layer contract in pyproject.toml holds, and lint-imports fails when a layer is crossed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("server", "clients", "leadgrab")
# "- server.x -> server.y (l.7)": one direct import that breaks a contract
BROKEN = re.compile(r"^-\s+(\S+) -> (\S+) \(l\.\d+\)$", re.MULTILINE)
# Leaks tolerated while they last, never new ones (the store-boundary work removed the last:
# floor.claims no longer takes the aiohttp app, the store logs the cluster topology).
KNOWN_LEAKS: set[tuple[str, str]] = set()


def lint_imports(root: Path) -> tuple[int, set[tuple[str, str]], str]:
    """Run lint-imports on the tree at `root`: exit code, broken imports, full report."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    report = done.stdout + done.stderr
    return done.returncode, set(BROKEN.findall(report)), report


def test_the_contracts_hold_apart_from_the_known_leaks() -> None:
    code, broken, report = lint_imports(ROOT)
    assert "Contracts: " in report, report  # it ran and read the contracts
    assert broken <= KNOWN_LEAKS, report
    assert code == 0 or broken, report  # a failure it could not name is a failure too


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The packages and the contract, copied to a folder of their own."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def inject(module: Path, line: str) -> None:
    """Add an import after the module's `from __future__` line."""
    text = module.read_text()
    head = "from __future__ import annotations\n"
    assert head in text, module
    module.write_text(text.replace(head, f"{head}{line}  # noqa\n", 1))


@pytest.mark.parametrize(
    ("module", "line", "leak", "contract"),
    [
        ("server/floor/roster.py", "import aiohttp", ("server.floor.roster", "aiohttp"),
         "only the web layer (and the app that wires it) knows aiohttp BROKEN"),
        ("server/web/requests.py", "import redis", ("server.web.requests", "redis"),
         "only the store talks to Redis BROKEN"),
        ("server/floor/fairness.py", "import server.fanout.hub",
         ("server.floor.fairness", "server.fanout.hub"), "server layers point down BROKEN"),
        ("server/protocol/codes.py", "import clients.client",
         ("server.protocol.codes", "clients.client"), "the server never imports its clients "
                                                       "BROKEN"),
    ],
)
def test_a_crossed_layer_breaks_the_contract(copy: Path, module: str, line: str,
                                             leak: tuple[str, str], contract: str) -> None:
    code, broken, report = lint_imports(copy)
    assert leak not in broken, report  # the copy is linted, and is clean of it before
    inject(copy / module, line)
    code, broken, report = lint_imports(copy)
    assert code != 0 and leak in broken and contract in report, report
    assert broken - KNOWN_LEAKS == {leak}, report
