"""A day of complaints and disputes replays exactly: every step is an input the replayer runs
through the same scripts, and the pauses they cause are re-derived."""

from __future__ import annotations

from redis.asyncio import Redis

from server.floor.complaints import Complaints
from server.floor.disputes import Disputes
from server.floor.timers import Timers
from server.replay.runs import exact
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock
from tests.helpers import arbiter_for, publish
from tests.outcome_helpers import FLOOR, complaint, rating

T0 = 1_800_000_000_000
HOUR = 3_600_000


async def test_complaints_and_disputes_replay_exactly(store: Store, clock: ManualClock,
                                                      redis: Redis) -> None:
    clock.now_ms = T0
    arbiter = await arbiter_for(store, FLOOR)
    complaints, disputes = Complaints(arbiter), Disputes(arbiter)
    timers = Timers(arbiter, ["north"])
    for n, rep in enumerate(("ann", "ben", "cat", "ann")):
        await publish(arbiter, f"L{n}", customer_id=f"C{n}")
        clock.advance(100)
        await arbiter.claim(rep, f"L{n}", f"r{n}")
    await complaints.record("north", complaint("F1", lead="L0"))
    await complaints.record("north", complaint("F2", lead="L1", category="no_contact",
                                               contact_at_ms=T0 + 150))
    await complaints.record("north", rating("F3", 2, lead="L2"))
    clock.advance(1000)
    await complaints.rule("north", "F1", "upheld", "manager:m", "tape")
    await complaints.rule("north", "F2", "dismissed", "manager:m", "no merit")
    await disputes.file("ben", "D1", "L3", "my customer since May")
    clock.advance(1000)
    await complaints.appeal("ann", "F1", "not me")
    await disputes.resolve("north", "D1", "reassign", "manager:m", "call log")
    clock.advance(HOUR)
    await timers.fire_due()  # the penalty's pause ends
    await complaints.rule("north", "F1", "rejected", "manager:m", "stands")
    entries = [{"id": i, **f} for i, f in await redis.xrange(keys.audit("north"))]
    actions = {e["action"] for e in entries}
    assert {"feedback", "complaint_ruling", "appeal", "appeal_ruling", "dispute",
            "dispute_ruling", "pause", "resume"} <= actions
    comparison, _ = await exact(entries)
    assert comparison.matched == comparison.total and not comparison.mismatches, \
        comparison.text()[:2000]
    assert comparison.total == len(entries) - 1  # all but rules_loaded
