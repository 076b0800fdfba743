"""Lua includes compose: resolved recursively, once each, cycles refused; every name a script
or library uses is defined in what it includes (read from the expanded source's AST)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.store.scripts import NAMES, IncludeError, lua_dir, source
from tests.lua_source import REDIS_GLOBALS, FreeNames, parse

LIBS = sorted(p.name for p in (lua_dir() / "lib").glob("*.lua"))


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_includes_resolve_recursively_and_once(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "main.lua": '-- @include "lib/b.lua"\n-- @include "lib/a.lua"\nmain()\n',
        "lib/a.lua": "local function a() end\n",
        "lib/b.lua": '-- @include "lib/a.lua"\nlocal function b() a() end\n',
    })
    assert source("main", root) == (
        "local function a() end\nlocal function b() a() end\n\nmain()\n")


def test_an_include_cycle_names_the_files(tmp_path: Path) -> None:
    root = write(tmp_path, {
        "main.lua": '-- @include "lib/a.lua"\n',
        "lib/a.lua": '-- @include "lib/b.lua"\n',
        "lib/b.lua": '-- @include "lib/a.lua"\n',
    })
    with pytest.raises(IncludeError, match=r"include cycle: main\.lua -> lib/a\.lua -> "
                                           r"lib/b\.lua -> lib/a\.lua"):
        source("main", root)


def test_a_library_including_itself_is_a_cycle(tmp_path: Path) -> None:
    root = write(tmp_path, {"main.lua": '-- @include "lib/a.lua"\n',
                            "lib/a.lua": '-- @include "lib/a.lua"\n'})
    with pytest.raises(IncludeError, match=r"lib/a\.lua -> lib/a\.lua"):
        source("main", root)


def test_a_missing_include_names_the_file_and_its_includer(tmp_path: Path) -> None:
    root = write(tmp_path, {"main.lua": '-- @include "lib/a.lua"\n',
                            "lib/a.lua": '-- @include "lib/gone.lua"\n'})
    with pytest.raises(IncludeError, match=r"missing Lua file lib/gone\.lua "
                                           r"\(included by lib/a\.lua\)"):
        source("main", root)


def undefined(text: str) -> list[str]:
    """Free names that Redis does not provide, in order of first use."""
    names = FreeNames().chunk(parse(text)).found
    return list(dict.fromkeys(name for name, _ in names if name not in REDIS_GLOBALS))


def test_the_check_finds_missing_and_late_definitions() -> None:
    text = ("local function early() return late() end\n"
            "local function late() return helper(1) end\n"
            "local ok = {string.len('x'), KEYS[1]}\n"
            "for i, v in ipairs(ok) do local w = v end\n"
            "total = 1\n")
    assert undefined(text) == ["late", "helper", "total"]


@pytest.mark.parametrize("name", NAMES)
def test_every_function_a_script_calls_is_defined(name: str) -> None:
    found = FreeNames().chunk(parse(source(name)))
    assert found.called() <= REDIS_GLOBALS, f"{name}.lua calls undefined {found.called()}"
    assert undefined(source(name)) == [], f"{name}.lua uses undefined names"


@pytest.mark.parametrize("lib", LIBS)
def test_every_library_includes_what_it_needs(lib: str) -> None:
    text = source(f"lib/{lib.removesuffix('.lua')}")
    assert undefined(text) == [], f"lib/{lib} needs an -- @include for these"


@pytest.mark.parametrize("name", NAMES)
def test_each_library_is_in_a_script_once(name: str) -> None:
    text = source(name)
    for lib in LIBS:
        first_line = (lua_dir() / "lib" / lib).read_text(encoding="utf-8").splitlines()[0]
        assert text.count(first_line + "\n") <= 1, f"{name}.lua holds lib/{lib} twice"
    assert "-- @include" not in text
