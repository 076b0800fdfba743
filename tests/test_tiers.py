"""Earned tiers: daily evaluation in the team's time zone with hysteresis, pins, and tiers that
survive a reload and a restart (each move audited with the rules version it starts)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from leadgrab.cli import main
from server.config import parse_config
from server.config_scores import ScorecardConfig
from server.floor.arbiter import Arbiter
from server.floor.scorecard import Scorecards
from server.floor.tiers import TierDesk, TierSchedule, earned_tier
from server.store.store import Store
from tests.clock import ManualClock
from tests.helpers import arbiter_for, publish

ZONE = ZoneInfo("Asia/Shanghai")
DAY0 = datetime(2027, 1, 4, tzinfo=ZONE)
ZEROS = ", ".join(f"{w} = 0.0" for w in (
    "conversion", "deadlines_kept", "rating", "complaints_per_100", "disputes_lost", "recycles"))
CONFIG = f"""
[teams.north]
timezone = "Asia/Shanghai"

[teams.north.rules]
max_open = 1000
max_daily = 1000
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 0

[teams.north.scorecard]
window_days = 2
base = 0.0
bonus_per_won = 0.0
bonus_per_kept_deadline = 0.0
weights = {{ {ZEROS}, leads_taken = 1.0 }}
hysteresis = 2.0
evaluate_at = "06:00"
tiers = {{ gold = {{ min_score = 10.0 }} }}

[tiers.gold.rules]
max_open = 3

[[reps]]
id = "alice"
team = "north"

[[reps]]
id = "bob"
team = "north"
"""


def at(day: int, hour: int) -> int:
    """Epoch ms of a local time on day `day` of the test."""
    return int((DAY0 + timedelta(days=day, hours=hour)).timestamp() * 1000)


class Floor:
    """One team's floor with its scorecard and tier schedule, driven by the test clock."""

    def __init__(self, arbiter: Arbiter, clock: ManualClock) -> None:
        self.arbiter, self.clock = arbiter, clock
        self.cards = Scorecards(arbiter)
        self.desk = TierDesk(arbiter)
        self.schedule = TierSchedule(self.desk, self.cards)
        self.n = 0

    async def take(self, rep: str, count: int) -> None:
        for _ in range(count):
            self.n += 1
            await publish(self.arbiter, f"L{self.n}")
            assert (await self.arbiter.claim(rep, f"L{self.n}", f"r{self.n}")).result == "won"
            assert (await self.arbiter.close(rep, f"L{self.n}", "won")).ok

    async def tick(self, day: int, hour: int) -> list[str]:
        self.clock.now_ms = at(day, hour)
        moved = await self.schedule.tick("north", await self.cards.publish("north"))
        return [f"{m.rep}:{m.prev}->{m.tier}" for m in moved]


def test_a_score_on_the_boundary_keeps_its_tier() -> None:
    card = ScorecardConfig.model_validate(
        {"hysteresis": 2.0, "tiers": {"silver": {"max_score": 10.0},
                                      "gold": {"min_score": 10.0}}})
    assert earned_tier(card, None, 10.5) is None  # not deep enough to enter from none
    assert earned_tier(card, None, 12.0) == "gold"
    assert earned_tier(card, "gold", 8.0) == "gold"  # within the widened band
    assert earned_tier(card, "gold", 7.9) == "silver"
    assert earned_tier(card, "silver", 11.9) == "silver"
    assert earned_tier(card, "silver", 12.0) == "gold"


async def test_daily_evaluation_with_hysteresis_does_not_flap(store: Store, redis: Redis,
                                                              clock: ManualClock) -> None:
    clock.now_ms = at(0, 5)
    floor = Floor(await arbiter_for(store, CONFIG), clock)
    seen = []
    for day, leads in enumerate([13, 9, 11, 9, 7, 11, 12, 0]):
        assert await floor.tick(day, 5) == []  # before 06:00 local: not yet
        seen.append(await floor.tick(day, 6))
        assert await floor.tick(day, 7) == []  # once a day
        clock.now_ms = at(day, 10)
        await floor.take("alice", leads)  # the score the next evaluation sees
    assert seen == [[], ["alice:None->gold"], [], [], [], ["alice:gold->None"], [],
                    ["alice:None->gold"]]
    rows = [f for _, f in await store.audit_range("north", "-", "+", 10_000)
            if f["action"] == "tier_change"]
    assert [(f["reason"], f.get("tier", ""), f.get("prev", "")) for f in rows] == [
        ("promoted", "gold", ""), ("demoted", "", "gold"), ("promoted", "gold", "")]
    version = int(await redis.hget("lg:{north}:rules", "version") or 0)
    assert int(rows[-1]["rules_version"]) == version and rows[-1]["actor"] == "schedule"
    loads = [f for _, f in await store.audit_range("north", "-", "+", 10_000)
             if f["action"] == "rules_loaded"]
    kept = json.loads(loads[-1]["rules"])  # what a replay loads for that version
    assert int(loads[-1]["rules_version"]) == version
    assert kept["reps"]["alice"]["tier"] == "gold" and kept["reps"]["alice"]["max_open"] == 3


async def test_an_earned_tier_brings_its_rules_and_survives_reload_and_restart(
        store: Store, clock: ManualClock) -> None:
    clock.now_ms = at(0, 10)
    config = parse_config(CONFIG)
    floor = Floor(await arbiter_for(store, CONFIG), clock)
    await floor.take("alice", 12)
    assert await floor.tick(1, 6) == ["alice:None->gold"]
    member = floor.arbiter.member("alice")
    assert member is not None and member.tier == "gold" and member.limits["max_open"] == 3
    version = await store.rules_version("north")
    loads = await floor.arbiter.apply_rules(config)  # a reload of the same file
    assert not loads[0].changed and loads[0].version == version
    restarted = Arbiter(store, config)
    await restarted.apply_rules(config)
    again = restarted.member("alice")
    assert again is not None and again.tier == "gold" and again.limits["max_open"] == 3


async def test_a_pinned_tier_holds_until_unpinned(store: Store, clock: ManualClock) -> None:
    clock.now_ms = at(0, 10)
    floor = Floor(await arbiter_for(store, CONFIG), clock)
    pinned = await floor.desk.change("bob", "pin", "gold", "manager:m", "pinned")
    assert (pinned.prev, pinned.tier) == (None, "gold")
    assert await floor.tick(1, 6) == []  # bob scores 0: would not earn gold, but is pinned
    member = floor.arbiter.member("bob")
    assert member is not None and member.tier == "gold"
    unpinned = await floor.desk.change("bob", "pin", None, "manager:m", "unpinned")
    assert (unpinned.prev, unpinned.tier) == ("gold", None)
    rows = [f for _, f in await store.audit_range("north", "-", "+", 1000)
            if f["action"] == "tier_change"]
    assert [(f["reason"], f["actor"]) for f in rows] == [("pinned", "manager:m"),
                                                         ("unpinned", "manager:m")]


def test_bad_scorecard_tables_are_refused_naming_the_key() -> None:
    bad = {
        'tiers = { gold = { min_score = 10.0 } }':
            'tiers = { gold = { min_score = 10.0 }, platinum = { min_score = 20.0 } }',
        'evaluate_at = "06:00"': 'evaluate_at = "6am"',
        'hysteresis = 2.0': 'hysteresis = -1.0',
        'window_days = 2': 'window_days = 0',
    }
    expected = ["platinum", "evaluate_at", "hysteresis", "window_days"]
    for (old, new), word in zip(bad.items(), expected, strict=True):
        try:
            parse_config(CONFIG.replace(old, new))
        except Exception as exc:
            assert word in str(exc), (word, str(exc))
        else:
            raise AssertionError(f"accepted {new}")
    overlapping = CONFIG.replace('tiers = { gold = { min_score = 10.0 } }',
                                 'tiers = { gold = { min_score = 10.0 }, '
                                 'silver = { min_score = 5.0, max_score = 12.0 } }')
    overlapping += "\n[tiers.silver.rules]\nmax_open = 2\n"
    try:
        parse_config(overlapping)
    except Exception as exc:
        assert "overlap" in str(exc)
    else:
        raise AssertionError("accepted overlapping bands")


def test_check_config_shows_the_scorecard(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "team north scorecard: window_days=2" in out
    assert "tiers=gold=[10.0,-) hysteresis=2.0 evaluate_at=06:00" in out
