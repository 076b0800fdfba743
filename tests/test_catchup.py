"""Fair catch-up on real Redis with a controlled clock: a rep back from two weeks' leave gets a
fair share of least_loaded assignments over the next day, neither flooded nor starved."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from server.floor.arbiter import Arbiter
from server.floor.timers import Timers
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock
from tests.helpers import arbiter_for, publish

DAY_MS = 86_400_000
REPS = ("r1", "r2", "r3", "r4")
HELD = 20  # open leads each rep at work holds when r4 comes back
LEADS = 40  # assignments over the day after the return (one every 30 minutes)


def team(catchup_after_ms: int) -> str:
    reps = "".join(f'[[reps]]\nid = "{r}"\nteam = "north"\n\n' for r in REPS)
    return ('[teams.north]\ntimezone = "UTC"\nauto_assign_after_ms = 1000\n'
            'assign_policy = "least_loaded"\n'
            "rules = { max_open = 100, max_daily = 100, cooldown_after_claim_ms = 0, "
            "penalty_cooldown_ms = 0 }\n"
            f"returns = {{ catchup_after_ms = {catchup_after_ms}, catchup_for_ms = {DAY_MS} }}\n\n"
            + reps)


async def assign(arbiter: Arbiter, clock: ManualClock, lead_id: str) -> str:
    """Publish a lead nobody claims; the fallback assignment picks its holder."""
    await publish(arbiter, lead_id)
    clock.advance(1000)
    await Timers(arbiter, ["north"]).fire_due()
    holder = (await arbiter.lead_state("north", lead_id))["lead"]["holder"]
    assert holder, lead_id
    return str(holder)


async def back_from_leave(arbiter: Arbiter, clock: ManualClock) -> None:
    """Everyone is in one draw; r4 leaves for two weeks, the others take HELD leads each."""
    await assign(arbiter, clock, "first")
    assert (await arbiter.pause("r4", True, "manager:m")).ok
    for rep in REPS[:3]:
        for n in range(HELD):
            await publish(arbiter, f"{rep}-{n}")
            assert (await arbiter.dispatch("north", f"{rep}-{n}", rep, "manager:m",
                                           force=False, reason="")).ok
    clock.advance(14 * DAY_MS)
    assert (await arbiter.pause("r4", False, "manager:m")).ok


async def next_day(arbiter: Arbiter, clock: ManualClock) -> list[str]:
    """LEADS assignments over the next day; every rep closes one lead per round of four."""
    picks = []
    for n in range(LEADS):
        picks.append(await assign(arbiter, clock, f"day-{n}"))
        clock.advance(30 * 60_000 - 1000)
        if n % 4 == 3:
            for rep in REPS:
                held = sorted((await arbiter.rep_state(rep))["held"])
                if held:
                    assert (await arbiter.close(rep, held[0], "won")).ok
    return picks


async def test_back_from_two_weeks_leave_gets_a_fair_share(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    arbiter = await arbiter_for(store, team(catchup_after_ms=3 * DAY_MS))
    await back_from_leave(arbiter, clock)
    picks = await next_day(arbiter, clock)
    share = picks.count("r4") / LEADS
    # the promise (README): counted as loaded like the median, a fair share of 1/n give or take
    assert 1 / (2 * len(REPS)) <= share <= 1.5 / len(REPS), picks
    entries = [f for _, f in await redis.xrange(keys.audit("north"))
               if f["action"] == "auto_assign" and f["lead"].startswith("day-")]
    notes = [c["catchup"] for e in entries for c in json.loads(e["contenders"])
             if c["rep"] == "r4"]
    assert len(notes) == LEADS
    assert notes[0]["away_ms"] == 14 * DAY_MS and notes[0]["open"] == HELD


async def test_without_catch_up_the_returning_rep_is_flooded(
        store: Store, clock: ManualClock) -> None:
    arbiter = await arbiter_for(store, team(catchup_after_ms=0))
    await back_from_leave(arbiter, clock)
    picks = await next_day(arbiter, clock)
    assert picks[:HELD // 2] == ["r4"] * (HELD // 2)
    assert picks.count("r4") / LEADS > 1.5 / len(REPS)


@pytest.mark.parametrize("away_ms", [DAY_MS, 14 * DAY_MS])
async def test_calibration_needs_a_long_absence_and_ends_after_the_span(
        store: Store, clock: ManualClock, redis: Redis, away_ms: int) -> None:
    arbiter = await arbiter_for(store, team(catchup_after_ms=3 * DAY_MS))
    await assign(arbiter, clock, "first")
    await arbiter.pause("r4", True, "r4")
    clock.advance(away_ms)
    await arbiter.pause("r4", False, "r4")
    await assign(arbiter, clock, "back")
    clock.advance(DAY_MS)
    await assign(arbiter, clock, "later")
    noted = {f["lead"]: [c["rep"] for c in json.loads(f["contenders"]) if "catchup" in c]
             for _, f in await redis.xrange(keys.audit("north")) if f["action"] == "auto_assign"}
    assert noted["back"] == (["r4"] if away_ms > 3 * DAY_MS else [])
    assert noted["later"] == []


async def test_window_draws_are_calibrated_and_audited(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    text = team(catchup_after_ms=3 * DAY_MS).replace(
        'assign_policy = "least_loaded"\n',
        'assign_policy = "none"\nmode = "window"\nwindow_policy = "least_loaded"\n')
    arbiter = await arbiter_for(store, text)

    async def window(lead_id: str, reps: tuple[str, ...]) -> dict[str, str]:
        await publish(arbiter, lead_id)
        for rep in reps:
            await arbiter.claim(rep, lead_id, f"{rep}-{lead_id}")
        clock.advance(3000)
        await Timers(arbiter, ["north"]).fire_due()
        return next(f for _, f in await redis.xrange(keys.audit("north"))
                    if f["action"] == "settle" and f["lead"] == lead_id)

    await window("first", REPS)
    for rep in REPS:  # whoever drew "first" (a seeded tie-break) holds nothing after it
        await arbiter.close(rep, "first", "won")
    await arbiter.pause("r4", True, "manager:m")
    for n in range(5):
        await publish(arbiter, f"held-{n}")
        await arbiter.dispatch("north", f"held-{n}", "r1", "manager:m", force=False, reason="")
    clock.advance(14 * DAY_MS)
    await arbiter.pause("r4", False, "manager:m")
    settle = await window("back", ("r1", "r4"))
    r4 = next(c for c in json.loads(settle["contenders"]) if c["rep"] == "r4")
    assert r4["open"] == 0 and r4["catchup"]["open"] == 5  # r1's load, the median of one
    assert r4["catchup"]["away_ms"] == 14 * DAY_MS
