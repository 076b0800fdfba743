"""Only server/store/ talks to Redis: no other module of server/, clients/ or leadgrab/
imports the driver, reaches for a client, or uses the store's private calls (an AST scan)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("server", "clients", "leadgrab")
STORE = ROOT / "server" / "store"
# the store's modules that hold or build a client; the rest (store, keys, scripts,
# event_reader, faults, embedded) are its public face
INTERNAL = ("server.store.backend", "server.store.batch", "server.store.session")
# a client, or the store's private ways to it
REACHING = {"redis", "_redis", "_scripts", "_batcher"}


def leaks(path: Path) -> list[str]:
    """What a module does that only the store may: each as 'line: what'."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Attribute) and node.attr in REACHING:
            found.append((node.lineno, f".{node.attr}"))
            continue
        else:
            continue
        found += [(node.lineno, f"imports {name}") for name in names
                  if name.partition(".")[0] == "redis" or name.startswith(INTERNAL)]
    return [f"{line}: {what}" for line, what in sorted(found)]


def scanned() -> list[Path]:
    paths = [p for top in SCANNED for p in sorted((ROOT / top).rglob("*.py"))]
    return [p for p in paths if STORE not in p.parents]


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import redis.asyncio\nfrom redis import exceptions\n"
                      "from server.store.backend import Client\nfrom server.store import keys\n"
                      "x = arbiter.store.redis.time()\ny = store._redis\nw = cfg.redis_url\n")
    assert leaks(module) == ["1: imports redis.asyncio", "2: imports redis",
                             "3: imports server.store.backend", "5: .redis", "6: ._redis"]


def test_the_scan_covers_the_layers() -> None:
    names = {str(p.relative_to(ROOT)) for p in scanned()}
    assert {"server/app.py", "server/floor/arbiter.py", "server/fanout/tail.py",
            "clients/client.py"} <= names
    assert not any(name.startswith("server/store/") for name in names)


def test_no_module_outside_the_store_touches_redis() -> None:
    found = {str(p.relative_to(ROOT)): hits for p in scanned() if (hits := leaks(p))}
    assert not found


def test_transports_and_fanout_ask_the_domain_not_the_store() -> None:
    """web/ and fanout/ get what they need from the arbiter's methods; none reaches past it
    to `arbiter.store` (the floor is where the store is used)."""
    found = {}
    for top in ("web", "fanout"):
        for path in sorted((ROOT / "server" / top).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            hits = [n.lineno for n in ast.walk(tree)
                    if isinstance(n, ast.Attribute) and n.attr == "store"]
            if hits:
                found[str(path.relative_to(ROOT))] = hits
    assert not found
