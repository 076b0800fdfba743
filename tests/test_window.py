"""Window arbitration on real Redis: pending candidates, one settlement, reproducible draws."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from redis.asyncio import Redis

from server.contracts.reasons import Outcome, Reason
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock
from tests.conftest import LIMITS
from tests.helpers import arbiter_for, publish


def window_config(policy: str = "lottery", reps: int = 4, extra_rules: str = "",
                  weights: dict[int, float] | None = None) -> str:
    roster = ""
    for n in range(reps):
        weight = (weights or {}).get(n)
        rules = f"rules = {{ weight = {weight} }}\n" if weight else ""
        roster += f'[[reps]]\nid = "r{n}"\nteam = "north"\n{rules}\n'
    return (
        '[teams.north]\nmode = "window"\nwindow_ms = 3000\n'
        f'window_policy = "{policy}"\n'
        'rules = { max_open = 5, max_daily = 1000, cooldown_after_claim_ms = 0, '
        f'penalty_cooldown_ms = 0 {extra_rules}}}\n\n' + roster)


async def test_window_collects_candidates_and_settles_once(store: Store, clock: ManualClock,
                                                           redis: Redis) -> None:
    arbiter = await arbiter_for(store, window_config())
    await publish(arbiter, "L1")
    pending = []
    for n in range(3):
        pending.append(await arbiter.claim(f"r{n}", "L1", f"q{n}"))
        clock.advance(1000)
    assert [p.result for p in pending] == [Outcome.PENDING] * 3
    assert [p.retry_after_ms for p in pending] == [3000, 2000, 1000]
    late = await arbiter.claim("r3", "L1", "late")
    assert late.result is Outcome.LOST
    clock.advance(-1)
    assert (await arbiter.settle("north", "L1")).status == "early"
    clock.advance(1)
    settled = await arbiter.settle("north", "L1")
    assert settled.status == "settled" and settled.detail in {"r0", "r1", "r2"}
    assert (await arbiter.settle("north", "L1")).status == "noop"
    finals = [await arbiter.claim(f"r{n}", "L1", f"q{n}") for n in range(3)]  # same req ids
    assert sorted(f.result for f in finals) == [Outcome.LOST, Outcome.LOST, Outcome.WON]
    assert await redis.hget(keys.lead("north", "L1"), "holder") == settled.detail
    assert await redis.zcard(keys.timers("north")) == 0
    kinds = [f["type"] for _, f in await redis.xrange(keys.events("north"))]
    assert kinds == ["lead", "settled", "taken"]


async def test_lottery_draw_is_reproducible_from_the_audit(store: Store, clock: ManualClock,
                                                           redis: Redis) -> None:
    arbiter = await arbiter_for(store, window_config(reps=5))
    for lead in range(20):
        await publish(arbiter, f"L{lead}")
        for n in range(5):
            await arbiter.claim(f"r{n}", f"L{lead}", f"q{lead}-{n}")
        clock.advance(3000)
        winner = (await arbiter.settle("north", f"L{lead}")).detail
        entry = await settle_entry(redis, f"L{lead}")
        pool = sorted(c["rep"] for c in json.loads(entry["contenders"]))
        u = int(entry["seed"][:8], 16) / 2**32
        assert pool[math.floor(u * len(pool))] == winner == entry["rep"]
        for n in range(5):
            if f"r{n}" == winner:
                await arbiter.close(winner, f"L{lead}", "won")


async def settle_entry(redis: Redis, lead_id: str) -> dict[str, Any]:
    entries = await redis.xrange(keys.audit("north"))
    found = [f for _, f in entries if f["action"] == "settle" and f["lead"] == lead_id]
    assert len(found) == 1
    return dict(found[0])


async def test_least_loaded_picks_fewest_open_then_fewest_today(store: Store, clock: ManualClock,
                                                                redis: Redis) -> None:
    arbiter = await arbiter_for(Store(redis, LIMITS, clock),
                                window_config("least_loaded", reps=3))
    await redis.sadd(keys.held("north", "r0"), "x", "y")  # r0 holds two leads
    day = await arbiter.local_day("north", clock.now_ms or 0)
    await redis.hset(keys.rep_state("north", "r1"), mapping={"day": day or "", "day_count": 4})
    await publish(arbiter, "L1")
    for n in range(3):
        await arbiter.claim(f"r{n}", "L1", f"q{n}")
    clock.advance(3000)
    assert (await arbiter.settle("north", "L1")).detail == "r2"


async def test_weighted_follows_the_weights(store: Store, clock: ManualClock,
                                            redis: Redis) -> None:
    arbiter = await arbiter_for(store, window_config("weighted", reps=2, weights={0: 3.0}))
    wins = 0
    for lead in range(200):
        await publish(arbiter, f"L{lead}")
        await arbiter.claim("r0", f"L{lead}", f"a{lead}")
        await arbiter.claim("r1", f"L{lead}", f"b{lead}")
        clock.advance(3000)
        winner = (await arbiter.settle("north", f"L{lead}")).detail
        entry = await settle_entry(redis, f"L{lead}")
        u = int(entry["seed"][:8], 16) / 2**32
        assert winner == ("r0" if u * 4.0 < 3.0 else "r1"), entry
        wins += winner == "r0"
        await arbiter.close(winner, f"L{lead}", "won")
    assert 120 <= wins <= 178  # 150 expected (75 %); the bounds are 6 standard deviations


async def test_candidate_failing_its_limits_at_settlement_is_rejected(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    arbiter = await arbiter_for(store, window_config(reps=2))
    await publish(arbiter, "L1")
    await arbiter.claim("r0", "L1", "a")
    await arbiter.claim("r1", "L1", "b")
    await redis.sadd(keys.held("north", "r0"), *[f"x{n}" for n in range(5)])  # quota full now
    clock.advance(3000)
    assert (await arbiter.settle("north", "L1")).detail == "r1"
    r0 = await arbiter.claim("r0", "L1", "a")
    assert (r0.result, r0.reason) == (Outcome.REJECTED, Reason.QUOTA_OPEN)


async def test_nobody_valid_reopens_the_lead(store: Store, clock: ManualClock,
                                             redis: Redis) -> None:
    arbiter = await arbiter_for(store, window_config(reps=1))
    await publish(arbiter, "L1")
    await arbiter.claim("r0", "L1", "a")
    await redis.sadd(keys.held("north", "r0"), *[f"x{n}" for n in range(5)])
    clock.advance(3000)
    assert (await arbiter.settle("north", "L1")).detail == ""
    assert await redis.hget(keys.lead("north", "L1"), "state") == "open"
    await redis.delete(keys.held("north", "r0"))
    assert (await arbiter.claim("r0", "L1", "again")).result is Outcome.PENDING


async def test_concurrent_settlers_settle_exactly_once(redis_url: str, redis: Redis,
                                                       clock: ManualClock) -> None:
    stores = [Store(Redis.from_url(redis_url, decode_responses=True), LIMITS, clock)
              for _ in range(4)]
    arbiter = await arbiter_for(stores[0], window_config(reps=4))
    await publish(arbiter, "L1")
    for n in range(4):
        await arbiter.claim(f"r{n}", "L1", f"q{n}")
    clock.advance(3000)
    outcomes = await asyncio.gather(*(s.settle("north", "L1") for s in stores))
    assert sorted(o.status for o in outcomes) == ["noop", "noop", "noop", "settled"]
    entries = await redis.xrange(keys.audit("north"))
    assert sum(f["action"] == "settle" for _, f in entries) == 1
    assert sum(f["action"] == "claim" and f["result"] == "won" for _, f in entries) == 1
    for s in stores:
        await s.aclose()


async def test_value_band_picks_the_method(store: Store) -> None:
    text = window_config().replace('window_policy = "lottery"\n',
                                   'window_policy = "lottery"\n'
                                   'bands = [{ min_value = 1000, mode = "fcfs" }]\n')
    arbiter = await arbiter_for(store, text)
    await publish(arbiter, "SMALL", value=10)
    await publish(arbiter, "BIG", value=5000)
    assert (await arbiter.claim("r0", "SMALL", "a")).result is Outcome.PENDING
    assert (await arbiter.claim("r0", "BIG", "b")).result is Outcome.WON


@pytest.mark.parametrize("limit", [1, 3])
async def test_claim_attempts_are_throttled_per_second(store: Store, clock: ManualClock,
                                                       limit: int) -> None:
    text = window_config(extra_rules=f", max_claims_per_s = {limit}").replace(
        'mode = "window"', 'mode = "fcfs"')
    arbiter = await arbiter_for(store, text)
    answers = [await arbiter.claim("r0", "NOPE", f"q{n}") for n in range(limit + 2)]
    assert [a.reason for a in answers[:limit]] == [Reason.NOT_FOUND] * limit
    assert {a.reason for a in answers[limit:]} == {Reason.RATE_LIMITED}
    assert all(0 < (a.retry_after_ms or 0) <= 1000 for a in answers[limit:])
    assert (await arbiter.claim("r0", "NOPE", "q0")).reason is Reason.NOT_FOUND  # a replay
