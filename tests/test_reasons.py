"""Reason codes: lua/lib/reasons.lua and server.contracts.reasons.Reason are one set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.contracts.reasons import Reason
from server.store.scripts import lua_dir

ENTRY = re.compile(r"^\s*([A-Z_]+)\s*=\s*'([a-z_]+)',?\s*$", re.MULTILINE)
USE = re.compile(r"\bR\.([A-Za-z_]+)")
LITERAL = re.compile(r"'([^'\n]*)'|\"([^\"\n]*)\"")
# Lines where a string would become a script's reason: returns, finish(...) and `reason =`.
DECIDING = re.compile(r"\breturn\b|\bfinish\(|\breason\s*=")
SCRIPTS = sorted(lua_dir().glob("*.lua"))


def lua_reasons() -> dict[str, str]:
    text = (lua_dir() / "lib" / "reasons.lua").read_text(encoding="utf-8")
    return dict(ENTRY.findall(text))


def code_lines(path: Path) -> list[tuple[int, str]]:
    """Non-comment lines after the header block, numbered."""
    text = path.read_text(encoding="utf-8")
    start = text.index("]]") + 2 if text.startswith("--[[") else 0
    first = text.count("\n", 0, start) + 1
    lines = text[start:].splitlines()
    return [(first + i, line) for i, line in enumerate(lines)
            if not line.lstrip().startswith("--")]


def test_lua_and_python_sets_are_equal() -> None:
    assert set(lua_reasons().values()) == {r.value for r in Reason}


def test_lua_names_match_python_names() -> None:
    assert lua_reasons() == {r.name: r.value for r in Reason}


def test_scripts_exist() -> None:
    assert SCRIPTS, "no scripts found"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_used_reason_is_defined(path: Path) -> None:
    defined = lua_reasons()
    used = set(USE.findall(path.read_text(encoding="utf-8")))
    assert used <= set(defined), f"{path.name} uses undefined {used - set(defined)}"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_scripts_that_use_reasons_include_them(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    if USE.search(text):
        assert '-- @include "lib/reasons.lua"' in text


def bare_literals(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """(line, literal) for each reason spelled as a string where a script decides."""
    values = set(lua_reasons().values())
    return [
        (number, literal)
        for number, line in lines if DECIDING.search(line)
        for pair in LITERAL.findall(line) for literal in pair if literal in values
    ]


def test_bare_literal_detector_catches_returns() -> None:
    lines = [(1, "return {'rejected', 'closed'}"), (2, 'return finish("rejected", "cooldown")'),
             (3, "reason = 'not_holder'"), (4, "if state == 'closed' then"),
             (5, "return finish('rejected', R.CLOSED)")]
    assert bare_literals(lines) == [(1, "closed"), (2, "cooldown"), (3, "not_holder")]


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_no_bare_reason_literals_are_returned(path: Path) -> None:
    bare = bare_literals(code_lines(path))
    assert not bare, f"{path.name}: use R.NAME instead of literals {bare}"
