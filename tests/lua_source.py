"""Lua read as code (py-lua-parser's AST): the names a script leaves unresolved, its calls,
and the constant tables the libraries define."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from luaparser import ast, astnodes

# What Redis gives a script (the same on 6.2 and 7.x); any other free name is a missing local.
REDIS_GLOBALS = frozenset({
    "redis", "cjson", "cmsgpack", "bit", "struct", "KEYS", "ARGV",
    "string", "table", "math", "tonumber", "tostring", "type", "ipairs", "pairs", "unpack",
    "next", "select", "error", "pcall", "xpcall", "assert", "rawget", "rawset", "rawequal",
    "setmetatable", "getmetatable",
})

Scope = list[set[str]]


def parse(text: str) -> astnodes.Chunk:
    return ast.parse(text)


@dataclass
class FreeNames:
    """Names read, written or called that no enclosing local declares at that point (a local
    function defined after its caller counts as free: Lua resolves it as a global)."""

    found: list[tuple[str, bool]] = field(default_factory=list)  # (name, called)

    def chunk(self, tree: astnodes.Chunk) -> FreeNames:
        self.block(tree.body.body, [])
        return self

    def called(self) -> set[str]:
        return {name for name, call in self.found if call}

    def names(self) -> set[str]:
        return {name for name, _ in self.found}

    def block(self, statements: list[astnodes.Node], scope: Scope) -> None:
        inner = [*scope, set()]
        for node in statements:
            self.statement(node, inner)

    def function(self, args: list[astnodes.Node], body: astnodes.Block, scope: Scope,
                 own: set[str] | None = None) -> None:
        params = {a.id for a in args if isinstance(a, astnodes.Name)} | (own or set())
        self.block(body.body, [*scope, params])

    def statement(self, node: astnodes.Node, scope: Scope) -> None:
        handler = _STATEMENTS.get(type(node))
        if handler is None:
            self.expr(node, scope)
        else:
            handler(self, node, scope)

    def local_assign(self, node: astnodes.LocalAssign, scope: Scope) -> None:
        for value in node.values or []:
            self.expr(value, scope)
        scope[-1].update(t.id for t in node.targets)

    def local_function(self, node: astnodes.LocalFunction, scope: Scope) -> None:
        scope[-1].add(node.name.id)
        self.function(node.args, node.body, scope)

    def fornum(self, node: astnodes.Fornum, scope: Scope) -> None:
        for part in (node.start, node.stop, node.step):
            self.expr(part, scope)
        self.block(node.body.body, [*scope, {node.target.id}])

    def forin(self, node: astnodes.Forin, scope: Scope) -> None:
        for part in node.iter:
            self.expr(part, scope)
        self.block(node.body.body, [*scope, {t.id for t in node.targets}])

    def repeat(self, node: astnodes.Repeat, scope: Scope) -> None:
        inner = [*scope, set()]  # `until` sees the body's locals
        for statement in node.body.body:
            self.statement(statement, inner)
        self.expr(node.test, inner)

    def if_(self, node: astnodes.If | astnodes.ElseIf, scope: Scope) -> None:
        self.expr(node.test, scope)
        self.block(node.body.body, scope)
        if node.orelse is not None:
            self.statement(node.orelse, scope)

    def loop(self, node: astnodes.While, scope: Scope) -> None:
        self.expr(node.test, scope)
        self.block(node.body.body, scope)

    def do(self, node: astnodes.Do | astnodes.Block, scope: Scope) -> None:
        self.block(node.body.body if isinstance(node, astnodes.Do) else node.body, scope)

    def expr(self, node: object, scope: Scope, call: bool = False) -> None:
        handler = _EXPRESSIONS.get(type(node))
        if handler is not None:
            handler(self, node, scope, call)
        elif isinstance(node, astnodes.Node):
            for name, value in vars(node).items():
                if name != "comments":
                    self.children(value, scope)

    def name(self, node: astnodes.Name, scope: Scope, call: bool) -> None:
        if not any(node.id in level for level in scope):
            self.found.append((node.id, call))

    def index(self, node: astnodes.Index, scope: Scope, call: bool) -> None:
        self.expr(node.value, scope)
        if node.notation == astnodes.IndexNotation.SQUARE:
            self.expr(node.idx, scope)

    def call(self, node: astnodes.Call, scope: Scope, call: bool) -> None:
        self.expr(node.func, scope, call=True)
        self.children(node.args, scope)

    def invoke(self, node: astnodes.Invoke, scope: Scope, call: bool) -> None:
        self.expr(node.source, scope)  # the method name is a field, not a variable
        self.children(node.args, scope)

    def anonymous(self, node: astnodes.AnonymousFunction, scope: Scope, call: bool) -> None:
        self.function(node.args, node.body, scope)

    def named_function(self, node: astnodes.Function | astnodes.Method, scope: Scope,
                       call: bool) -> None:
        self.expr(node.name, scope)  # a global function: its name is free
        self.function(node.args, node.body, scope, {"self"})

    def table_entry(self, node: astnodes.Field, scope: Scope, call: bool) -> None:
        if node.between_brackets:
            self.expr(node.key, scope)  # a `name = value` key is a string, not a variable
        self.expr(node.value, scope)

    def children(self, value: object, scope: Scope) -> None:
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, astnodes.Block):
                self.statement(item, scope)
            elif isinstance(item, astnodes.Node):
                self.expr(item, scope)


_STATEMENTS: dict[type, Callable[[FreeNames, Any, Scope], None]] = {
    astnodes.LocalAssign: FreeNames.local_assign, astnodes.LocalFunction: FreeNames.local_function,
    astnodes.Fornum: FreeNames.fornum, astnodes.Forin: FreeNames.forin,
    astnodes.Repeat: FreeNames.repeat, astnodes.If: FreeNames.if_, astnodes.ElseIf: FreeNames.if_,
    astnodes.While: FreeNames.loop, astnodes.Do: FreeNames.do, astnodes.Block: FreeNames.do,
}
_EXPRESSIONS: dict[type, Callable[[FreeNames, Any, Scope, bool], None]] = {
    astnodes.Name: FreeNames.name, astnodes.Index: FreeNames.index, astnodes.Call: FreeNames.call,
    astnodes.Invoke: FreeNames.invoke, astnodes.AnonymousFunction: FreeNames.anonymous,
    astnodes.Function: FreeNames.named_function, astnodes.Method: FreeNames.named_function,
    astnodes.Field: FreeNames.table_entry,
}


def calls(tree: astnodes.Node, function: str) -> Iterator[astnodes.Call]:
    """Every call of the plain name `function`."""
    for node in ast.walk(tree):
        if (isinstance(node, astnodes.Call) and isinstance(node.func, astnodes.Name)
                and node.func.id == function):
            yield node


def members(tree: astnodes.Node, table: str) -> Iterator[str]:
    """Every `table.NAME` read (dot notation)."""
    for node in ast.walk(tree):
        if (isinstance(node, astnodes.Index) and node.notation == astnodes.IndexNotation.DOT
                and isinstance(node.value, astnodes.Name) and node.value.id == table):
            yield node.idx.id


def constant(tree: astnodes.Chunk, name: str) -> dict[str, str] | list[str]:
    """A `local NAME = {...}` of string constants: a dict for KEY = 'value' fields, a list
    for an array."""
    for node in tree.body.body:
        if (isinstance(node, astnodes.LocalAssign) and len(node.targets) == 1
                and node.targets[0].id == name):
            table = node.values[0]
            assert isinstance(table, astnodes.Table), f"{name} is not a table"
            fields = table.fields
            if all(f.key is None or isinstance(f.key, astnodes.Number) for f in fields):
                return [f.value.s.decode() for f in fields]
            return {f.key.id: f.value.s.decode() for f in fields}
    raise LookupError(f"no local table {name}")


def table_keys(table: astnodes.Table) -> list[str]:
    """The names of a table constructor's `name = value` fields."""
    return [f.key.id for f in table.fields
            if isinstance(f.key, astnodes.Name) and not f.between_brackets]


def table_field(table: astnodes.Table, key: str) -> astnodes.Node | None:
    for f in table.fields:
        if isinstance(f.key, astnodes.Name) and not f.between_brackets and f.key.id == key:
            value: astnodes.Node = f.value
            return value
    return None
