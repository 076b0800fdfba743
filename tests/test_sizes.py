"""Size limits of the code we ship: no module over 300 lines, no function over 40 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "clients", "loadtest")
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 40


def modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def oversized(source: str, name: str) -> list[str]:
    """What in one module breaks the limits: the module itself, then each long function."""
    found = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{name}: {lines} lines (limit {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{name}:{node.lineno} {node.name}: {length} lines "
                             f"(limit {MAX_FUNCTION_LINES})")
    return found


def test_no_module_or_function_over_the_limits() -> None:
    assert len(modules()) > 50  # the walk really finds the packages
    found = [f for p in modules() for f in oversized(p.read_text(encoding="utf-8"),
                                                     str(p.relative_to(ROOT)))]
    assert found == []


@pytest.mark.parametrize(("source", "expected"), [
    ("x = 1\n" * 301, ["m.py: 301 lines (limit 300)"]),
    ("x = 1\n" * 300, []),
    ("def f():\n" + "    x = 1\n" * 40, ["m.py:1 f: 41 lines (limit 40)"]),
    ("class C:\n    async def g(self):\n" + "        x = 1\n" * 39,
     []),
    ("class C:\n    async def g(self):\n" + "        x = 1\n" * 40,
     ["m.py:2 g: 41 lines (limit 40)"]),
])
def test_the_check_sees_long_modules_and_functions(source: str, expected: list[str]) -> None:
    assert oversized(source, "m.py") == expected
