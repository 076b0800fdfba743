"""Timer members: one grammar in server.contracts.timer_members, the member strings the Lua
scripts build held to it, and what real scripts store parsed back."""

from __future__ import annotations

import re

import pytest
from redis.asyncio import Redis

from server.contracts.timer_members import TimerKind, TimerMember, TimerMemberError, member, parse
from server.store import keys
from server.store.scripts import lua_dir
from server.store.store import Store
from tests.clock import ManualClock
from tests.test_policies import arbiter_for, floor, publish
from tests.test_reasons import code_lines

# 'kind:' .. lead_id, optionally .. '#' .. n — a member built where timers are touched
BUILT = re.compile(r"'([a-z_]+):'\s*\.\.\s*[\w.]+(\s*\.\.\s*'#'\s*\.\.\s*[\w.]+)?")
# a member's kind tested by its prefix: string.sub(member, 1, n) == 'kind:'
TESTED = re.compile(r"string\.sub\(member,\s*1,\s*(\d+)\)\s*==\s*'([a-z_]+):'")
TIMER_LINE = re.compile(r"timers_key|\bmember\b")
LUA = sorted(lua_dir().glob("*.lua")) + sorted((lua_dir() / "lib").glob("*.lua"))


def built(lines: list[tuple[int, str]]) -> set[tuple[str, bool]]:
    """(kind, has a stage number) for every member a script builds on a timer line."""
    return {(kind, bool(stage)) for _, line in lines if TIMER_LINE.search(line)
            for kind, stage in BUILT.findall(line)}


def lua_members() -> set[tuple[str, bool]]:
    return set().union(*(built(code_lines(path)) for path in LUA))


def test_the_parser_reads_member_builders() -> None:
    lines = [(1, "redis.call('ZADD', timers_key, t, 'settle:' .. lead_id)"),
             (2, "redis.call('ZREM', timers_key, 'stage:' .. lead_id .. '#' .. i)"),
             (3, "local member = 'auto:' .. lead_id"),
             (4, "redis.call('HSET', lockout_key, 'lead:' .. lead_id, until_ms)")]
    assert built(lines) == {("settle", False), ("stage", True), ("auto", False)}


def test_lua_builds_exactly_the_python_grammar() -> None:
    assert lua_members() == {(kind.value, kind is TimerKind.STAGE) for kind in TimerKind}


def test_lua_prefix_tests_name_known_kinds_with_their_length() -> None:
    tested = [(int(n), kind) for path in LUA for _, line in code_lines(path)
              for n, kind in TESTED.findall(line)]
    assert tested, "fire_deadline.lua tells warn: from deadline: by its prefix"
    assert all(kind in TimerKind.__members__.values() and n == len(kind) + 1
               for n, kind in tested)


@pytest.mark.parametrize(("text", "parsed"), [
    ("settle:L-1", TimerMember(TimerKind.SETTLE, "L-1")),
    ("deadline:a:b", TimerMember(TimerKind.DEADLINE, "a:b")),
    ("warn:L#1", TimerMember(TimerKind.WARN, "L#1")),
    ("stage:L-1#2", TimerMember(TimerKind.STAGE, "L-1", 2)),
    ("stage:L#1#3", TimerMember(TimerKind.STAGE, "L#1", 3)),
    ("open:X", TimerMember(TimerKind.OPEN, "X")),
    ("auto:X", TimerMember(TimerKind.AUTO, "X")),
])
def test_members_round_trip(text: str, parsed: TimerMember) -> None:
    assert parse(text) == parsed
    assert member(parsed.kind, parsed.lead_id, parsed.stage) == str(parsed) == text


@pytest.mark.parametrize("text", ["", "settle", "settle:", "nap:L1", "stage:L1",
                                  "stage:L1#", "stage:#2", "stage:L1#x", "SETTLE:L1"])
def test_malformed_members_are_refused(text: str) -> None:
    with pytest.raises(TimerMemberError):
        parse(text)


def test_a_stage_number_goes_with_stage_timers_only() -> None:
    with pytest.raises(TimerMemberError):
        member(TimerKind.STAGE, "L1")
    with pytest.raises(TimerMemberError):
        member(TimerKind.SETTLE, "L1", 2)


async def test_what_the_scripts_store_parses_back(store: Store, clock: ManualClock,
                                                  redis: Redis) -> None:
    team = ('auto_assign_after_ms = 30000\nassign_policy = "least_loaded"\n'
            'release = { min_value = 1000, stages = [{ tiers = ["gold"], after_ms = 0 }, '
            '{ tiers = ["silver"], after_ms = 20000 }] }')
    arbiter = await arbiter_for(store, floor(team))
    await publish(arbiter, "BIG", value=5000)
    await publish(arbiter, "HELD")
    assert (await arbiter.claim("cat", "HELD", "c1")).result == "won"
    stored = await redis.zrange(keys.timers("north"), 0, -1)
    assert {str(parse(m)) for m in stored} == set(stored)
    assert {(m.kind, m.lead_id, m.stage) for m in map(parse, stored)} >= {
        (TimerKind.STAGE, "BIG", 2), (TimerKind.AUTO, "BIG", None),
        (TimerKind.DEADLINE, "HELD", None), (TimerKind.WARN, "HELD", None)}
