"""The scorecard from the audit: day counters kept up incrementally, each figure and term."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import generate_latest
from redis.asyncio import Redis

from server.contracts.timer_members import TimerKind, member, parse
from server.floor.arbiter import Arbiter
from server.floor.score_terms import penalty_points
from server.floor.scorecard import Card, Scorecards
from server.metrics import Metrics
from server.store.store import Store
from tests.clock import ManualClock
from tests.helpers import arbiter_for, publish

MINUTE = 60_000
CONFIG = """
[teams.north]
timezone = "Europe/Berlin"

[teams.north.rules]
max_open = 10
max_daily = 50
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 0
followup_sla_ms = 3600000

[teams.north.scorecard]
window_days = 7

[[reps]]
id = "alice"
team = "north"

[[reps]]
id = "bob"
team = "north"
"""


async def outcome_entry(redis: Redis, clock: ManualClock, **fields: Any) -> None:
    """An audit entry of the complaints helper's shapes (task-13 contract), written as its
    scripts will: XADD with the scripts' clock in `ts`."""
    assert clock.now_ms is not None
    body = {"ts": clock.now_ms, "result": "ok", **fields}
    await redis.xadd("lg:{north}:audit", {k: str(v) for k, v in body.items()})


async def take_and_follow(arbiter: Arbiter, clock: ManualClock, rep: str, lead: str,
                          after_ms: int, outcome: str | None) -> None:
    await publish(arbiter, lead)
    assert (await arbiter.claim(rep, lead, f"r-{lead}")).result == "won"
    clock.advance(after_ms)
    assert (await arbiter.followup(rep, lead, "called")).ok
    if outcome:
        assert (await arbiter.close(rep, lead, outcome)).ok


async def history(arbiter: Arbiter, redis: Redis, clock: ManualClock) -> None:
    """alice: 2 taken, 1 won, 1 recycled, rated 5; bob: 1 taken, 1 lost, rated 2, one
    complaint upheld (appeal rejected), one dispute lost; alice's complaint was overturned."""
    await take_and_follow(arbiter, clock, "alice", "L1", 30 * MINUTE, "won")
    await publish(arbiter, "L2")
    assert (await arbiter.claim("alice", "L2", "r-L2")).result == "won"
    clock.advance(61 * MINUTE)
    done = await arbiter.fire_deadline("north", parse(member(TimerKind.DEADLINE, "L2")))
    assert done.ok, done
    await take_and_follow(arbiter, clock, "bob", "L3", 10 * MINUTE, "lost")
    await outcome_entry(redis, clock, action="feedback", lead="L1", rep="alice", ref="f1",
                        rating=5, actor="crm")
    await outcome_entry(redis, clock, action="feedback", lead="L3", rep="bob", ref="f2",
                        rating=2, actor="crm")
    for action, status in (("complaint_ruling", "upheld"), ("appeal", "appealed"),
                           ("appeal_ruling", "rejected")):
        await outcome_entry(redis, clock, action=action, lead="L3", rep="bob", ref="c1",
                            category="rude", status=status, actor="manager:m")
    for action, status in (("complaint_ruling", "upheld"), ("appeal", "appealed"),
                           ("appeal_ruling", "overturned")):
        await outcome_entry(redis, clock, action=action, lead="L1", rep="alice", ref="c2",
                            category="rude", status=status, actor="manager:m")
    await outcome_entry(redis, clock, action="dispute_ruling", lead="L3", rep="alice",
                        prev="bob", ref="d1", status="reassigned", actor="manager:m")


def by_rep(cards: list[Card]) -> dict[str, Card]:
    return {card.rep: card for card in cards}


def contributions(card: Card) -> dict[str, float]:
    return {t.component: t.contribution for t in card.terms}


async def test_figures_and_terms_follow_the_audit(store: Store, redis: Redis,
                                                  clock: ManualClock) -> None:
    arbiter = await arbiter_for(store, CONFIG)
    await history(arbiter, redis, clock)
    cards = by_rep(await Scorecards(arbiter).cards("north"))
    alice, bob = cards["alice"].figures, cards["bob"].figures
    assert (alice["leads_taken"], alice["won"], alice["lost"]) == (2, 1, 0)
    assert (alice["deadlines_kept"], alice["recycles"]) == (1, 1)
    assert alice["median_first_followup_ms"] == 30 * MINUTE
    assert (alice["average_rating"], alice["upheld_complaints"]) == (5, 0)
    assert (bob["leads_taken"], bob["conversion"], bob["upheld_complaints"]) == (1, 0, 1)
    assert (bob["disputes_lost"], bob["upheld_per_100_leads"]) == (1, 100)
    assert bob["median_first_followup_ms"] == 10 * MINUTE
    terms = contributions(cards["alice"])
    assert terms["conversion"] == 40 and terms["deadlines_kept"] == 15
    assert terms["rating"] == 10 and terms["recycles"] == -1
    assert cards["alice"].score == pytest.approx(50 + 40 + 15 + 10 - 1 + 1 + 0.2)
    assert cards["bob"].score == pytest.approx(50 + 0 + 30 - 5 - 200 - 5 + 0.2)


async def test_counting_is_incremental_and_once_across_processes(store: Store, redis: Redis,
                                                                 clock: ManualClock) -> None:
    arbiter = await arbiter_for(store, CONFIG)
    await history(arbiter, redis, clock)
    first, second = Scorecards(arbiter), Scorecards(arbiter)
    counted = await asyncio.gather(first.refresh("north"), second.refresh("north"))
    entries = await redis.xlen("lg:{north}:audit")
    assert sum(counted) == entries  # each entry counted by exactly one of the two
    assert await first.refresh("north") == 0
    await take_and_follow(arbiter, clock, "bob", "L4", MINUTE, "won")
    assert by_rep(await second.cards("north"))["bob"].figures["won"] == 1
    assert await first.refresh("north") == 0  # the other process counted it already


async def test_the_window_rolls_by_local_day(store: Store, redis: Redis,
                                             clock: ManualClock) -> None:
    arbiter = await arbiter_for(store, CONFIG)
    await history(arbiter, redis, clock)
    cards = Scorecards(arbiter)
    assert by_rep(await cards.cards("north"))["alice"].figures["leads_taken"] == 2
    clock.advance(6 * 86_400_000)
    assert by_rep(await cards.cards("north"))["alice"].figures["leads_taken"] == 2
    clock.advance(86_400_000)
    late = by_rep(await cards.cards("north"))["alice"]
    assert late.figures["leads_taken"] == 0 and late.score == 50  # nothing left: the base


async def test_scores_are_left_where_the_draw_reads_them(store: Store, redis: Redis,
                                                         clock: ManualClock) -> None:
    arbiter = await arbiter_for(store, CONFIG)
    await history(arbiter, redis, clock)
    found = by_rep(await Scorecards(arbiter).publish("north"))
    stored = await redis.hget("lg:{north}:rep:alice", "score")
    assert float(stored or "nan") == pytest.approx(found["alice"].score)


def test_penalty_points_come_from_the_complaint_penalties_rule() -> None:
    limits = {"complaint_penalties": {"rude": {"points": 7, "cooldown_ms": 0},
                                      "no_contact": {"pause_ms": 100}}}
    assert penalty_points(limits, {"rude": 2, "no_contact": 3, "other": 1}) == 14
    assert penalty_points({}, {"rude": 2}) == 0


async def test_score_gauges_keep_to_the_rep_label_cap(store: Store, redis: Redis,
                                                      clock: ManualClock) -> None:
    arbiter = await arbiter_for(store, CONFIG)
    capped, roomy = Metrics(rep_label_max=1), Metrics(rep_label_max=2)
    for metrics in (capped, roomy):
        metrics.reps.set_roster({"alice": "north", "bob": "north"})
        await Scorecards(arbiter, metrics).publish("north")
    assert "leadgrab_rep_score{" not in generate_latest(capped.registry).decode()
    assert 'leadgrab_rep_score{rep="bob",team="north"} 50.0' in \
        generate_latest(roomy.registry).decode()
