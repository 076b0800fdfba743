"""Script statuses: what the Lua scripts return first and server.contracts.statuses.Status
are one set; the store, domain, fan-out and web compare statuses by the enum, never a string."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from server.contracts.statuses import Status
from server.store.scripts import lua_dir
from tests.test_reasons import code_lines

ROOT = Path(__file__).resolve().parent.parent
# A reply table whose first field is a literal: return {'ok', ...}
RETURNED = re.compile(r"\breturn\s*\{\s*'([a-z_]+)'")
LUA = sorted(lua_dir().glob("*.lua")) + sorted((lua_dir() / "lib").glob("*.lua"))
# Layers that see script replies: a status there is a Status, not a string literal
TYPED = ("server/store", "server/floor", "server/fanout", "server/web")


def returned(lines: list[tuple[int, str]]) -> set[str]:
    return {status for _, line in lines for status in RETURNED.findall(line)}


def lua_statuses() -> set[str]:
    return set().union(*(returned(code_lines(path)) for path in LUA))


def test_the_parser_reads_reply_tables() -> None:
    lines = [(1, "  return {'noop', ''}"), (2, "return {'settled', winner.id, x}"),
             (3, "return finish('won')"), (4, "return {settled.result, ''}"),
             (5, "local t = {'ok'}")]
    assert returned(lines) == {"noop", "settled"}


def test_lua_and_python_statuses_are_one_set() -> None:
    assert LUA, "no scripts found"
    assert lua_statuses() == {s.value for s in Status}


def _is_status(node: ast.expr) -> bool:
    """A script's status: `x.status`, `status`, or a reply's first field `reply[0]`."""
    text = ast.unparse(node)
    return text == "status" or text.endswith((".status", "[0]"))


def compared_literals(path: Path) -> list[tuple[int, str]]:
    """(line, literal) for each Status value a status is compared with as a bare string."""
    values = {s.value for s in Status}
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Compare) and any(map(_is_status, [node.left,
                                                                   *node.comparators])):
            found += [(node.lineno, c.value) for c in ast.walk(node)
                      if isinstance(c, ast.Constant) and c.value in values]
    return sorted(set(found))


def test_the_literal_finder_sees_comparisons(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('a = d.status == "stale"\nb = status in ("rejected", "noop")\n'
                      'c = {"status": "ok"}\nd = reply[0] != "stale"\ne = kind == "ok"\n'
                      'f = d.status is Status.OK\n')
    assert compared_literals(module) == [(1, "stale"), (2, "noop"), (2, "rejected"),
                                         (4, "stale")]


def test_no_bare_status_strings_in_the_server_layers() -> None:
    bare = {str(path.relative_to(ROOT)): found
            for folder in TYPED for path in sorted((ROOT / folder).glob("*.py"))
            if (found := compared_literals(path))}
    assert not bare, f"compare with Status members, not strings: {bare}"
