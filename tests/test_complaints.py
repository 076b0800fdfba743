"""Feedback and the due process of complaints on real Redis with a controlled clock: attach to
the right rep, count once, rulings and appeals, penalties applied and reversed, bad input."""

from __future__ import annotations

from redis.asyncio import Redis

from server.contracts.reasons import Reason
from server.contracts.statuses import Status
from server.floor.arbiter import Arbiter
from server.floor.complaints import Complaints
from server.floor.timers import Timers
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock
from tests.helpers import arbiter_for, publish
from tests.outcome_helpers import (
    FLOOR,
    audit,
    complaint,
    events,
    rating,
    rep_field,
    snapshot,
)

T0 = 1_800_000_000_000
HOUR = 3_600_000


async def held_by_ann(store: Store, clock: ManualClock) -> tuple[Arbiter, Complaints]:
    clock.now_ms = T0
    arbiter = await arbiter_for(store, FLOOR)
    await publish(arbiter, "L1", customer_id="C1")
    assert (await arbiter.claim("ann", "L1", "r1")).result == "won"
    return arbiter, Complaints(arbiter)


async def test_feedback_attaches_to_the_holder_and_counts_once(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    _, complaints = await held_by_ann(store, clock)
    first = await complaints.record("north", complaint("F1"))
    again = await complaints.record("north", complaint("F1", category="no_contact"))
    assert (first.status, first.rep, first.state) == (Status.OK, "ann", "received")
    assert (again.status, again.rep, again.state) == (Status.DUPLICATE, "ann", "received")
    assert (await complaints.record("north", rating("F2", 4))).rep == "ann"
    entries = await audit(redis, "feedback")
    assert [(e["ref"], e["rep"], e.get("status"), e.get("rating")) for e in entries] == [
        ("F1", "ann", "received", None), ("F2", "ann", None, "4")]
    assert all(e["rules_version"] != "0" and e["actor"] == "integration:crm" for e in entries)
    assert [(e["rep"], e["status"]) for e in await events(redis, "complaint")] == [
        ("ann", "received")]
    listed = await complaints.listed("north", lead_id="L1")
    assert [f["id"] for f in listed["feedback"]] == ["F1", "F2"]
    assert [f["id"] for f in (await complaints.listed("north", rep="ann"))["feedback"]] == [
        "F1", "F2"]


async def test_feedback_attaches_to_the_holder_at_the_contact_time(
        store: Store, clock: ManualClock) -> None:
    arbiter, complaints = await held_by_ann(store, clock)
    clock.advance(HOUR)
    await arbiter.dispatch("north", "L1", "ben", "manager:m", force=True, reason="moved")
    clock.advance(HOUR)
    assert (await arbiter.close("ben", "L1", "won")).ok
    assert (await complaints.record("north", complaint("F1", contact_at_ms=T0 + 10))).rep == "ann"
    assert (await complaints.record("north", complaint("F2"))).rep == "ben"
    assert (await complaints.record("north", complaint("F3", contact_at_ms=T0 - 1))).rep == "ben"


async def test_upheld_penalises_appeal_overturned_reverses(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    arbiter, complaints = await held_by_ann(store, clock)
    await complaints.record("north", complaint("F1"))
    clock.advance(1000)
    upheld = await complaints.rule("north", "F1", "upheld", "manager:m", "call recording")
    assert upheld.state == "upheld"
    assert await rep_field(arbiter, "ann", "cooldown_until_ms") == str(T0 + 1000 + 600_000)
    assert await rep_field(arbiter, "ann", "paused") == "1"
    clock.advance(1000)
    appealed = await complaints.appeal("ann", "F1", "the customer hung up on me")
    assert appealed.state == "appealed"
    clock.advance(1000)
    assert (await complaints.rule("north", "F1", "overturned", "manager:m", "tape")).ok
    assert await rep_field(arbiter, "ann", "cooldown_until_ms") == str(T0)  # the claim's
    assert await rep_field(arbiter, "ann", "paused") == "0"
    assert await redis.zscore(keys.timers("north"), "resume:ann") is None
    steps = await audit(redis, "feedback", "complaint_ruling", "appeal", "appeal_ruling",
                        "pause", "resume")
    assert [(e["action"], e.get("status"), e["actor"], e.get("reason")) for e in steps] == [
        ("feedback", "received", "integration:crm", None),
        ("complaint_ruling", "upheld", "manager:m", "call recording"),
        ("pause", None, "manager:m", "complaint"),
        ("appeal", "appealed", "ann", "the customer hung up on me"),
        ("appeal_ruling", "overturned", "manager:m", "tape"),
        ("resume", None, "manager:m", "overturned")]
    assert [e["status"] for e in await events(redis, "complaint")] == [
        "received", "upheld", "appealed", "overturned"]
    assert [e["paused"] for e in await events(redis, "pause")] == ["1", "0"]
    view = await complaints.view("north", "F1")
    assert view is not None and view["status"] == "overturned" and not view["counts"]


async def test_the_penalty_pause_ends_as_an_ordinary_resume(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    arbiter, complaints = await held_by_ann(store, clock)
    await complaints.record("north", complaint("F1"))
    await complaints.rule("north", "F1", "upheld", "manager:m", "notes")
    clock.advance(HOUR - 1)
    await Timers(arbiter, ["north"]).fire_due()
    assert await rep_field(arbiter, "ann", "paused") == "1"
    clock.advance(1)
    await Timers(arbiter, ["north"]).fire_due()
    assert await rep_field(arbiter, "ann", "paused") == "0"
    resumed = await audit(redis, "resume")
    assert [(e["rep"], e["actor"], e["reason"]) for e in resumed] == [
        ("ann", "system", "penalty_ended")]
    assert [e["paused"] for e in await events(redis, "pause")] == ["1", "0"]
    # an appeal rejected later keeps the penalty (it already ran its course)
    await complaints.appeal("ann", "F1", "unfair")
    assert (await complaints.rule("north", "F1", "rejected", "manager:m", "stands")).ok
    view = await complaints.view("north", "F1")
    assert view is not None and view["counts"]


async def test_a_manual_pause_after_the_penalty_is_not_lifted_by_its_timer(
        store: Store, clock: ManualClock) -> None:
    arbiter, complaints = await held_by_ann(store, clock)
    await complaints.record("north", complaint("F1"))
    await complaints.rule("north", "F1", "upheld", "manager:m", "notes")
    clock.advance(10)
    await arbiter.pause("ann", False, "manager:m")
    clock.advance(10)
    await arbiter.pause("ann", True, "manager:m")
    clock.advance(HOUR)
    await Timers(arbiter, ["north"]).fire_due()
    assert await rep_field(arbiter, "ann", "paused") == "1"


async def test_dismissed_never_penalises(store: Store, clock: ManualClock,
                                         redis: Redis) -> None:
    arbiter, complaints = await held_by_ann(store, clock)
    await complaints.record("north", complaint("F1"))
    before = await arbiter.store.rep_fields("north", "ann")
    assert (await complaints.rule("north", "F1", "dismissed", "manager:m", "no merit")).ok
    assert await arbiter.store.rep_fields("north", "ann") == before
    refused = await complaints.appeal("ann", "F1", "x")
    assert (refused.status, refused.reason) == (Status.REJECTED, Reason.NOT_UPHELD)
    assert await redis.zcard(keys.timers("north")) == 0


async def test_bad_input_is_refused_with_a_reason_and_changes_nothing(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    _arbiter, complaints = await held_by_ann(store, clock)
    await complaints.record("north", complaint("F1"))
    await complaints.record("north", rating("R1", 5))
    await complaints.rule("north", "F1", "upheld", "manager:m", "notes")
    before = await snapshot(redis)
    refusals = [
        (await complaints.record("north", complaint("F9", lead="nope")), Reason.NOT_FOUND),
        (await complaints.record("north", complaint("F9", category="smelly")),
         Reason.UNKNOWN_CATEGORY),
        (await complaints.record("north", rating("F9", 6)), Reason.BAD_RATING),
        (await complaints.record("north", rating("F9", 0)), Reason.BAD_RATING),
        (await complaints.appeal("ben", "F1", "for ann"), Reason.NOT_YOURS),
        (await complaints.appeal("ann", "R1", "a rating"), Reason.NOT_COMPLAINT),
        (await complaints.rule("north", "F1", "dismissed", "manager:m", "again"),
         Reason.ALREADY_RULED),
        (await complaints.rule("north", "F1", "overturned", "manager:m", "early"),
         Reason.NOT_APPEALED),
        (await complaints.rule("north", "nope", "upheld", "manager:m", "?"), Reason.NOT_FOUND),
    ]
    assert [(s.status, s.reason) for s, _ in refusals] == [
        (Status.REJECTED, r) for _, r in refusals]
    assert await snapshot(redis) == before
    clock.advance(86_400_001)  # past the appeal window
    late = await complaints.appeal("ann", "F1", "late")
    assert late.reason == Reason.APPEAL_EXPIRED
    assert await snapshot(redis) == before


async def test_a_second_appeal_is_refused(store: Store, clock: ManualClock,
                                          redis: Redis) -> None:
    _, complaints = await held_by_ann(store, clock)
    await complaints.record("north", complaint("F1"))
    await complaints.rule("north", "F1", "upheld", "manager:m", "notes")
    assert (await complaints.appeal("ann", "F1", "first")).ok
    before = await snapshot(redis)
    assert (await complaints.appeal("ann", "F1", "second")).reason == Reason.ALREADY_APPEALED
    await complaints.rule("north", "F1", "rejected", "manager:m", "stands")
    after = await snapshot(redis)
    assert (await complaints.appeal("ann", "F1", "third")).reason == Reason.ALREADY_APPEALED
    assert await snapshot(redis) == after != before
