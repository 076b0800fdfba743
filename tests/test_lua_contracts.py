"""Event types and audit fields: defined once in lua/lib, mirrored by server/contracts, used by
every script through emit() and audit(); these tests fail when the two sides drift."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from luaparser import ast, astnodes
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from server.config import Config
from server.contracts.audit_fields import AuditAction, AuditField, AuditNote
from server.contracts.events import EventType
from server.fanout import deliveries
from server.floor import audit_log
from server.floor.arbiter import Arbiter
from server.floor.lead import NewLead
from server.store import keys
from server.store.scripts import NAMES, lua_dir, source
from server.store.store import Store
from tests.lua_source import calls, constant, members, parse, table_field, table_keys

SCRIPTS = {name: parse(source(name)) for name in NAMES}
# The files that may append to a stream themselves: the two that define how.
STREAM_WRITERS = {"lib/events.lua", "lib/audit.lua"}


@cache
def lib_constant(lib: str, name: str) -> dict[str, str] | list[str]:
    return constant(parse((lua_dir() / "lib" / lib).read_text(encoding="utf-8")), name)


def test_event_types_match() -> None:
    assert lib_constant("events.lua", "EVENT") == {e.name: e.value for e in EventType}


def test_audit_fields_match_in_order() -> None:
    assert lib_constant("audit.lua", "AUDIT_FIELDS") == [f.value for f in AuditField]


def test_audit_actions_and_notes_match() -> None:
    assert lib_constant("audit.lua", "ACTION") == {a.name: a.value for a in AuditAction}
    assert lib_constant("audit.lua", "NOTE") == {n.name: n.value for n in AuditNote}


def test_the_csv_header_is_the_audit_fields() -> None:
    assert ("id", *(f.value for f in AuditField), "extra") == audit_log.CSV_HEADER


def test_the_fanout_reads_every_event_type() -> None:
    assert set(deliveries.BUILDERS) == set(EventType)


def lua_files() -> list[Path]:
    return sorted(lua_dir().glob("*.lua")) + sorted((lua_dir() / "lib").glob("*.lua"))


@pytest.mark.parametrize("path", lua_files(), ids=lambda p: p.name)
def test_only_emit_and_audit_append_to_streams(path: Path) -> None:
    relative = path.relative_to(lua_dir()).as_posix()
    strings = [node.s.decode() for node in ast.walk(parse(path.read_text(encoding="utf-8")))
               if isinstance(node, astnodes.String)]
    if relative not in STREAM_WRITERS:
        assert "XADD" not in {s.upper() for s in strings}, f"{relative}: use emit() or audit()"


@pytest.mark.parametrize("name", NAMES)
def test_every_emit_names_a_defined_event_type(name: str) -> None:
    defined = lib_constant("events.lua", "EVENT")
    for call in calls(SCRIPTS[name], "emit"):
        kind = call.args[2]
        assert isinstance(kind, astnodes.Index) and kind.value.id == "EVENT", \
            f"{name}.lua: emit's type must be EVENT.NAME"
        assert kind.idx.id in defined, f"{name}.lua emits undefined EVENT.{kind.idx.id}"


@pytest.mark.parametrize("name", NAMES)
def test_every_audit_entry_uses_defined_fields(name: str) -> None:
    fields = set(lib_constant("audit.lua", "AUDIT_FIELDS"))
    entries = [call.args[2] for call in calls(SCRIPTS[name], "audit")]
    assert all(isinstance(e, astnodes.Table) for e in entries), f"{name}.lua: audit's entry"
    for entry in entries:
        assert set(table_keys(entry)) <= fields, f"{name}.lua: {set(table_keys(entry)) - fields}"
        action = table_field(entry, "action")
        assert isinstance(action, astnodes.Index | astnodes.Name), \
            f"{name}.lua: an audit action is ACTION.NAME (or a local holding one)"


@pytest.mark.parametrize("name", NAMES)
def test_every_constant_a_script_reads_is_defined(name: str) -> None:
    for table, lib in (("EVENT", "events.lua"), ("ACTION", "audit.lua"), ("NOTE", "audit.lua")):
        used = set(members(SCRIPTS[name], table))
        defined = lib_constant(lib, table)
        assert used <= set(defined), f"{name}.lua reads undefined {table}: {used - set(defined)}"


@pytest.mark.parametrize("name", NAMES)
def test_scripts_spell_no_event_type_or_action_as_a_literal(name: str) -> None:
    """The type of an entry comes from EVENT, an audit action from ACTION: never a string."""
    for call in calls(SCRIPTS[name], "emit"):
        assert not isinstance(call.args[2], astnodes.String), f"{name}.lua"
    for call in calls(SCRIPTS[name], "audit"):
        action = table_field(call.args[2], "action")
        assert not isinstance(action, astnodes.String), f"{name}.lua: audit action literal"


def library(*libs: str, body: str) -> str:
    """A throwaway script: the named libraries (with their own includes) and a body."""
    includes = "".join(f'-- @include "lib/{lib}"\n' for lib in libs)
    return includes + body


async def run(redis: Redis, text: str, tmp_path: Path) -> object:
    (tmp_path / "probe.lua").write_text(text, encoding="utf-8")
    (tmp_path / "lib").symlink_to(lua_dir() / "lib")
    return await redis.eval(source("probe", tmp_path), 2, "{t}:events", "{t}:audit")  # type: ignore[misc]


async def test_emit_refuses_an_unknown_type_and_writes_nothing(redis: Redis,
                                                                 tmp_path: Path) -> None:
    probe = library("events.lua", body="return emit(KEYS[1], 100, 'lead_taken', {'a', 1})")
    with pytest.raises(ResponseError, match="emit: unknown event type lead_taken"):
        await run(redis, probe, tmp_path)
    assert await redis.xlen("{t}:events") == 0


async def test_audit_refuses_an_unknown_field_and_writes_nothing(redis: Redis,
                                                                  tmp_path: Path) -> None:
    probe = library("audit.lua", body="return audit(KEYS[2], 100, {action = 'x', who = 'y'})")
    with pytest.raises(ResponseError, match="audit: unknown field who"):
        await run(redis, probe, tmp_path)
    assert await redis.xlen("{t}:audit") == 0


async def test_audit_writes_fields_in_their_order_without_empty_ones(redis: Redis,
                                                                     tmp_path: Path) -> None:
    probe = library("audit.lua", body=(
        "return audit(KEYS[2], 100, {note = 'n', ts = 5, action = ACTION.CLAIM, reason = ''})"))
    await run(redis, probe, tmp_path)
    [(_, fields)] = await redis.xrange("{t}:audit")
    assert list(fields) == ["ts", "action", "note"] and fields["action"] == "claim"


async def test_entries_written_on_a_floor_use_only_mirrored_names(store: Store, redis: Redis,
                                                                   config: Config) -> None:
    """Values computed at run time (an action held in a local) stay inside the enums too."""
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    await arbiter.refresh_roster()
    await arbiter.publish(NewLead(id="L1", team="north", region="north"), "crm")
    await arbiter.claim("alice", "L1", "a1")
    await arbiter.claim("bob", "L1", "b1")
    await arbiter.followup("alice", "L1", "called")
    await arbiter.release("alice", "L1")
    await arbiter.dispatch("north", "L1", "bob", "manager:m", force=True, reason="")
    await arbiter.dispatch("north", "L1", "alice", "manager:m", force=True, reason="rebalance")
    await arbiter.close("alice", "L1", "won")
    await arbiter.publish(NewLead(id="L2", team="north"), "crm")
    await arbiter.withdraw("north", "L2", "manager:m", "duplicate")
    await arbiter.pause("bob", True, "bob")
    await arbiter.pause("bob", False, "bob")
    audit = [fields for _, fields in await redis.xrange(keys.audit("north"))]
    events = [fields for _, fields in await redis.xrange(keys.events("north"))]
    assert {f["action"] for f in audit} == {
        "rules_loaded", "publish", "claim", "followup", "release", "dispatch", "reassign",
        "close", "withdraw", "pause", "resume"}
    assert all(set(f) <= set(AuditField) and f["action"] in set(AuditAction) for f in audit)
    claims = [f for f in audit if f["action"] == "claim"]  # elsewhere a note is free text
    assert {f.get("note", "") for f in claims} <= {"", *AuditNote}
    assert {f["type"] for f in events} == {"lead", "taken", "assigned", "withdrawn", "pause"}
    assert all(deliveries.deliveries(f, "1-0") for f in events)  # the fan-out reads each one
