"""A simulated working day on real Redis, its invariants checked by replaying the audit stream."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest
from redis.asyncio import Redis

from server.config import Config
from server.floor.arbiter import Arbiter
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock
from tests.working_day_harness import LEADS, Floor, Lead, day_config, local_ms, make_leads
from tests.working_day_replay import Replay


async def test_a_working_day_keeps_every_invariant(store: Store, clock: ManualClock,
                                                   redis: Redis) -> None:
    rng, config = random.Random(20270105), day_config()
    clock.now_ms = local_ms(5, 30)
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    leads = {lead.id: lead for lead in make_leads(rng)}
    floor = Floor(arbiter, redis, clock, rng, list(leads.values()))
    await floor.run(END_MS)
    entries = [fields for _, fields in await redis.xrange(keys.audit("north"))]
    replay = Replay(config, leads)
    replay.run(entries)
    replay.finish(END_MS)
    held = {lead: rep for rep, lead in await floor.holdings()}
    assert {lead: h.rep for lead, h in replay.holds.items()} == held  # audit agrees with state
    assert_busy_day(replay.stats)
    assert_checker_catches(config, leads, entries)


END_MS = local_ms(22, 30)
EXERCISED = ["assign", "owner_window", "dispatch", "reassign", "withdraw", "release",
             "recycle followup", "recycle max_hold", "late stage win", "claim lost ",
             *(f"claim rejected {r}" for r in ("cooldown", "quota_open", "quota_daily",
                                               "not_open", "locked_out", "ineligible"))]


def assert_busy_day(stats: Counter[str]) -> None:
    """The day really pushed against every rule the replay checks."""
    assert stats["publish"] == LEADS and stats["pause"] == 2
    assert stats["claim won "] > 100 and stats["auto_assign ok"] > 50
    assert all(stats[name] > 0 for name in EXERCISED), {n: stats[n] for n in EXERCISED}


def assert_checker_catches(config: Config, leads: dict[str, Lead],
                           entries: list[dict[str, str]]) -> None:
    """Broken copies of the day's audit fail the replay: the checks are not vacuous."""
    recycle = index_of(entries, lambda e: e["action"] == "recycle")
    won = index_of(entries, lambda e: e["action"] == "claim" and e["result"] == "won")
    again = index_of(entries, lambda e: e["action"] == "claim" and e["result"] == "won"
                     and e["rep"] == entries[won]["rep"], won + 1)
    other = next(r.id for r in config.reps if r.id != entries[won]["rep"])
    soon = {**entries[again], "ts": str(int(entries[won]["ts"]) + 1000)}
    mutants = {
        "recycle without": splice(entries, recycle + 1, [entries[recycle]]),
        "not recycled|never fired": splice(entries, recycle, [], drop=1),
        "two holders": splice(entries, won + 1, [{**entries[won], "rep": other}]),
        "cooling down": splice(entries, again, [soon], drop=1),
    }
    for message, mutant in mutants.items():
        with pytest.raises(AssertionError, match=message):
            replay = Replay(config, leads)
            replay.run(mutant)
            replay.finish(END_MS)


def index_of(entries: list[dict[str, str]], test: Callable[[dict[str, str]], bool],
             start: int = 0) -> int:
    return next(i for i in range(start, len(entries)) if test(entries[i]))


def splice(entries: list[dict[str, str]], at: int, insert: list[dict[str, str]],
           drop: int = 0) -> list[dict[str, str]]:
    return entries[:at] + insert + entries[at + drop:]
