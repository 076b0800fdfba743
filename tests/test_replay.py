"""Replay: audits of the scenario tests re-derive every decision; what-if under new rules."""

from __future__ import annotations

import random

from redis.asyncio import Redis

from server.floor.arbiter import Arbiter
from server.replay.runs import exact, whatif
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock
from tests.test_working_day import END_MS, Floor, day_config, local_ms, make_leads


async def recorded(redis: Redis, team: str = "north") -> list[dict[str, str]]:
    return [{"id": i, **f} for i, f in await redis.xrange(keys.audit(team))]


async def test_a_working_day_replays_exactly(store: Store, clock: ManualClock,
                                             redis: Redis) -> None:
    rng, config = random.Random(20270105), day_config()
    clock.now_ms = local_ms(5, 30)
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    floor = Floor(arbiter, redis, clock, rng, make_leads(rng))
    await floor.run(END_MS)
    entries = await recorded(redis)
    comparison, seconds = await exact(entries)
    print(comparison.text()[:3000], len(entries), seconds)
    assert comparison.matched == comparison.total and not comparison.mismatches
