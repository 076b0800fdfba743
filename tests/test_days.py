"""Cooldown and daily-quota boundaries to the millisecond, in the team's zone, across DST."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from server.config import parse_config
from server.contracts.reasons import Outcome, Reason
from server.contracts.results import ClaimResult
from server.floor.arbiter import Arbiter
from server.floor.lead import NewLead
from server.floor.rules import local_midnights
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock

HOUR_MS = 3_600_000
TEAM = """
[teams.north]
timezone = "{zone}"

[teams.north.rules]
max_open = 100
max_daily = {max_daily}
cooldown_after_claim_ms = {cooldown_ms}
penalty_cooldown_ms = 0

[tiers.fast]
rules = {{ cooldown_after_claim_ms = 200 }}

[[reps]]
id = "ann"
team = "north"

[[reps]]
id = "ben"
team = "north"
tier = "fast"

[[reps]]
id = "cat"
team = "north"
tier = "fast"
rules = {{ cooldown_after_claim_ms = 50 }}
"""
DAYS = [
    ("Europe/Berlin", date(2027, 1, 12), 24),
    ("Europe/Berlin", date(2027, 3, 28), 23),
    ("Europe/Berlin", date(2027, 10, 31), 25),
    ("America/New_York", date(2027, 1, 12), 24),
    ("America/New_York", date(2027, 3, 14), 23),
    ("America/New_York", date(2027, 11, 7), 25),
]
DAY_IDS = [f"{zone.split('/')[1]}-{day}" for zone, day, _ in DAYS]


def local_ms(zone: str, day: date, hour: int, minute: int = 0) -> int:
    moment = datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone))
    return int(moment.timestamp() * 1000)


def next_midnight_ms(zone: str, day: date) -> int:
    return local_ms(zone, day + timedelta(days=1), 0)


async def arbiter_for(store: Store, zone: str = "UTC", max_daily: int = 100,
                      cooldown_ms: int = 0, leads: int = 6) -> Arbiter:
    """Rules loaded at the clock's current time, with leads L0..L{n-1} published."""
    config = parse_config(TEAM.format(zone=zone, max_daily=max_daily, cooldown_ms=cooldown_ms))
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    for n in range(leads):
        await arbiter.publish(NewLead(id=f"L{n}", team="north"), "test")
    return arbiter


class Claims:
    """Numbered claim requests, so every attempt is a fresh request."""

    def __init__(self, arbiter: Arbiter) -> None:
        self.arbiter = arbiter
        self.count = 0

    async def __call__(self, rep: str, lead: str) -> ClaimResult:
        self.count += 1
        return await self.arbiter.claim(rep, lead, f"req-{self.count}")


def rejected(result: ClaimResult, reason: Reason, retry_ms: int | None) -> bool:
    return (result.result, result.reason, result.retry_after_ms) == (
        Outcome.REJECTED, reason, retry_ms)


@pytest.mark.parametrize(("rep", "cooldown_ms"), [("ann", 1000), ("ben", 200), ("cat", 50)])
async def test_cooldown_ends_exactly(store: Store, clock: ManualClock, rep: str,
                                    cooldown_ms: int) -> None:
    claim = Claims(await arbiter_for(store, cooldown_ms=1000))
    assert (await claim(rep, "L0")).result is Outcome.WON
    clock.advance(cooldown_ms - 1)
    assert rejected(await claim(rep, "L1"), Reason.COOLDOWN, 1)
    clock.advance(1)
    assert (await claim(rep, "L1")).result is Outcome.WON


async def test_cooldown_retry_counts_down(store: Store, clock: ManualClock) -> None:
    claim = Claims(await arbiter_for(store, cooldown_ms=1000))
    await claim("ann", "L0")
    start = clock.now_ms or 0
    for offset in (0, 1, 500, 999):
        clock.now_ms = start + offset
        assert rejected(await claim("ann", "L1"), Reason.COOLDOWN, 1000 - offset)


async def test_zero_cooldown_allows_back_to_back(store: Store) -> None:
    claim = Claims(await arbiter_for(store, cooldown_ms=0))
    assert [(await claim("ann", f"L{n}")).result for n in range(3)] == [Outcome.WON] * 3


@pytest.mark.parametrize(("zone", "day", "hours"), DAYS, ids=DAY_IDS)
async def test_daily_quota_resets_at_local_midnight(store: Store, clock: ManualClock,
                                                    redis: Redis, zone: str, day: date,
                                                    hours: int) -> None:
    midnight = next_midnight_ms(zone, day)
    assert midnight - local_ms(zone, day, 0) == hours * HOUR_MS
    clock.now_ms = local_ms(zone, day, 0, 30)
    claim = Claims(await arbiter_for(store, zone, max_daily=1))
    assert (await claim("ann", "L0")).result is Outcome.WON
    assert await redis.hget(keys.rep_state("north", "ann"), "day") == day.isoformat()
    clock.now_ms = local_ms(zone, day, 23, 30)
    assert clock.now_ms - local_ms(zone, day, 0, 30) == (hours - 1) * HOUR_MS
    assert rejected(await claim("ann", "L1"), Reason.QUOTA_DAILY, midnight - clock.now_ms)
    assert midnight - clock.now_ms == HOUR_MS // 2
    clock.now_ms = midnight - 1
    assert rejected(await claim("ann", "L1"), Reason.QUOTA_DAILY, 1)
    clock.now_ms = midnight
    assert (await claim("ann", "L1")).result is Outcome.WON
    nxt = (day + timedelta(days=1)).isoformat()
    assert await redis.hgetall(keys.rep_state("north", "ann")) == {
        "day": nxt, "day_count": "1", "cooldown_until_ms": str(midnight)}


@pytest.mark.parametrize(("zone", "day", "hours"), DAYS, ids=DAY_IDS)
async def test_quota_from_first_instant_of_day(store: Store, clock: ManualClock, zone: str,
                                               day: date, hours: int) -> None:
    """A claim at 00:00.000 local counts for that day until its last millisecond."""
    start = local_ms(zone, day, 0)
    clock.now_ms = start
    claim = Claims(await arbiter_for(store, zone, max_daily=2))
    assert (await claim("ann", "L0")).result is Outcome.WON
    clock.now_ms = start + hours * HOUR_MS - 1
    assert (await claim("ann", "L1")).result is Outcome.WON
    assert rejected(await claim("ann", "L2"), Reason.QUOTA_DAILY, 1)
    clock.advance(1)
    assert (await claim("ann", "L2")).result is Outcome.WON


async def test_zero_daily_quota_waits_for_midnight(store: Store, clock: ManualClock) -> None:
    zone, day = "America/New_York", date(2027, 3, 14)
    clock.now_ms = local_ms(zone, day, 12)
    claim = Claims(await arbiter_for(store, zone, max_daily=0))
    retry = next_midnight_ms(zone, day) - clock.now_ms
    assert retry == 12 * HOUR_MS
    assert rejected(await claim("ann", "L0"), Reason.QUOTA_DAILY, retry)


@pytest.mark.parametrize(("zone", "day", "hours"), DAYS, ids=DAY_IDS)
async def test_at_midnight_the_wait_is_the_whole_day(store: Store, clock: ManualClock, zone: str,
                                                     day: date, hours: int) -> None:
    """Exactly at local midnight the next midnight is a full (23, 24 or 25 h) day away."""
    clock.now_ms = local_ms(zone, day, 0)
    claim = Claims(await arbiter_for(store, zone, max_daily=0))
    assert rejected(await claim("ann", "L0"), Reason.QUOTA_DAILY, hours * HOUR_MS)


async def test_cooldown_is_checked_before_the_daily_quota(store: Store,
                                                          clock: ManualClock) -> None:
    zone, day = "Europe/Berlin", date(2027, 3, 27)
    clock.now_ms = local_ms(zone, day, 23, 30)
    claim = Claims(await arbiter_for(store, zone, max_daily=1, cooldown_ms=HOUR_MS))
    assert (await claim("ann", "L0")).result is Outcome.WON
    clock.now_ms = local_ms(zone, day, 23, 45)
    assert rejected(await claim("ann", "L1"), Reason.COOLDOWN, 45 * 60_000)
    clock.now_ms = next_midnight_ms(zone, day) + 15 * 60_000
    assert rejected(await claim("ann", "L1"), Reason.COOLDOWN, 15 * 60_000)
    clock.advance(15 * 60_000)
    assert (await claim("ann", "L1")).result is Outcome.WON
    assert rejected(await claim("ann", "L2"), Reason.COOLDOWN, HOUR_MS)


@pytest.mark.parametrize(("zone", "day", "hours"), DAYS, ids=DAY_IDS)
def test_local_midnights_day_lengths(zone: str, day: date, hours: int) -> None:
    rows = local_midnights(zone, local_ms(zone, day, 12), 1, 1)
    assert [d for d, _ in rows] == [str(day - timedelta(days=1)), str(day),
                                    str(day + timedelta(days=1))]
    assert rows[1][1] == local_ms(zone, day, 0)
    assert rows[2][1] - rows[1][1] == hours * HOUR_MS


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "America/Santiago",
                                  "America/Havana", "Australia/Lord_Howe", "UTC"])
def test_local_midnights_are_each_days_first_instant(zone: str) -> None:
    """Also where midnight itself is skipped (Santiago, Havana): the day starts at 01:00."""
    rows = local_midnights(zone, local_ms(zone, date(2027, 7, 1), 12), 200, 200)
    assert len(rows) == 401
    tz = ZoneInfo(zone)
    for (day, ms), (_, next_ms) in pairwise(rows):
        assert datetime.fromtimestamp(ms / 1000, tz).date().isoformat() == day
        assert datetime.fromtimestamp((ms - 1) / 1000, tz).date().isoformat() < day
        assert 23 * HOUR_MS - HOUR_MS // 2 <= next_ms - ms <= 25 * HOUR_MS


def test_local_midnights_edges_of_the_range() -> None:
    around = local_ms("Europe/Berlin", date(2027, 1, 4), 0)
    rows = local_midnights("Europe/Berlin", around, 7, 400)
    assert rows[7] == ("2027-01-04", around)
    assert rows[0][0] == "2026-12-28" and len(rows) == 408
    assert local_midnights("Europe/Berlin", around - 1, 0, 0)[0][0] == "2027-01-03"
