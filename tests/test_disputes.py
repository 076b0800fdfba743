"""撞单 disputes on real Redis: filing, keep or reassign (the lead and the customer's ownership
move, protection restarts), exactly once under concurrency, bad input changing nothing."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from server.contracts.reasons import Outcome, Reason
from server.contracts.statuses import Status
from server.floor.arbiter import Arbiter
from server.floor.complaints import Complaints
from server.floor.disputes import Disputes
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock
from tests.helpers import arbiter_for, publish
from tests.outcome_helpers import FLOOR, audit, events, snapshot

T0 = 1_800_000_000_000
DAY = 86_400_000


async def disputed(store: Store, clock: ManualClock | None = None) -> tuple[Arbiter, Disputes]:
    if clock is not None:
        clock.now_ms = T0
    arbiter = await arbiter_for(store, FLOOR)
    await publish(arbiter, "L1", customer_id="C1")
    assert (await arbiter.claim("ann", "L1", "r1")).result is Outcome.WON
    disputes = Disputes(arbiter)
    filed = await disputes.file("ben", "D1", "L1", "I called them last week")
    assert (filed.status, filed.rep, filed.state) == (Status.OK, "ann", "open")
    return arbiter, disputes


async def test_reassign_moves_the_lead_and_the_customer(store: Store, clock: ManualClock,
                                                        redis: Redis) -> None:
    arbiter, disputes = await disputed(store, clock)
    clock.advance(5000)
    done = await disputes.resolve("north", "D1", "reassign", "manager:m", "call log")
    assert (done.status, done.rep, done.state) == (Status.OK, "ben", "reassigned")
    lead = await redis.hgetall(keys.lead("north", "L1"))
    assert (lead["state"], lead["holder"]) == ("held", "ben")
    assert await redis.smembers(keys.held("north", "ben")) == {"L1"}
    assert await redis.smembers(keys.held("north", "ann")) == set()
    cust = await redis.hgetall(keys.customer("north", "C1"))
    assert (cust["owner"], cust["holder"], cust["owner_until_ms"]) == (
        "ben", "ben", str(T0 + 5000 + DAY))
    ruling = await audit(redis, "dispute_ruling")
    assert [(e["rep"], e["prev"], e["status"], e["actor"], e["reason"]) for e in ruling] == [
        ("ben", "ann", "reassigned", "manager:m", "call log")]
    assert ruling[0]["rules_version"] != "0"
    assert [(e["rep"], e["prev"], e["status"]) for e in await events(redis, "dispute")] == [
        ("ben", "ann", "open"), ("ben", "ann", "reassigned")]
    assert [(e["rep"], e["prev"]) for e in await events(redis, "assigned")] == [("ben", "ann")]
    for rep in ("ann", "ben"):
        listed = await Complaints(arbiter).listed("north", rep=rep)
        assert [d["status"] for d in listed["disputes"]] == ["reassigned"]
    # the customer's next lead goes to its new holder
    await publish(arbiter, "L2", customer_id="C1")
    assert await redis.hget(keys.lead("north", "L2"), "holder") == "ben"


async def test_keep_leaves_everything_with_the_holder(store: Store, redis: Redis) -> None:
    _, disputes = await disputed(store)
    lead_before = await redis.hgetall(keys.lead("north", "L1"))
    cust_before = await redis.hgetall(keys.customer("north", "C1"))
    done = await disputes.resolve("north", "D1", "keep", "manager:m", "no proof")
    assert (done.rep, done.state) == ("ann", "kept")
    assert await redis.hgetall(keys.lead("north", "L1")) == lead_before
    assert await redis.hgetall(keys.customer("north", "C1")) == cust_before
    ruling = await audit(redis, "dispute_ruling")
    assert [(e["rep"], e["prev"], e["status"]) for e in ruling] == [("ann", "ben", "kept")]


async def test_bad_disputes_are_refused_and_change_nothing(store: Store, redis: Redis) -> None:
    arbiter, disputes = await disputed(store)
    await publish(arbiter, "L3")
    await disputes.resolve("north", "D1", "keep", "manager:m", "no")
    before = await snapshot(redis)
    refused = [
        (await disputes.file("ann", "D2", "L1", "mine"), Reason.ALREADY_HOLDER),
        (await disputes.file("ben", "D2", "L3", "open lead"), Reason.NOT_HELD),
        (await disputes.file("ben", "D2", "nope", "?"), Reason.NOT_FOUND),
        (await disputes.file("zed", "D2", "L1", "not on the roster"), Reason.INELIGIBLE),
        (await disputes.resolve("north", "D1", "reassign", "manager:m", "again"),
         Reason.ALREADY_RESOLVED),
        (await disputes.resolve("north", "D9", "keep", "manager:m", "?"), Reason.NOT_FOUND),
    ]
    assert [(s.status, s.reason) for s, _ in refused] == [
        (Status.REJECTED, r) for _, r in refused]
    assert await snapshot(redis) == before
    again = await disputes.file("ben", "D1", "L3", "same id")  # answers as the first did
    assert (again.status, again.rep, again.state) == (Status.DUPLICATE, "ann", "kept")
    assert await snapshot(redis) == before


async def test_a_ruling_moves_lead_and_customer_exactly_once_under_concurrent_claims(
        store: Store, redis: Redis) -> None:
    arbiter, disputes = await disputed(store)

    async def next_lead() -> list[tuple[str, Outcome]]:
        await publish(arbiter, "L2", customer_id="C1")
        reps = [rep for _ in range(10) for rep in ("ann", "ben", "cat")]
        claims = [arbiter.claim(rep, "L2", f"{rep}-{n}") for n, rep in enumerate(reps)]
        return [(rep, c.result) for rep, c in zip(reps, await asyncio.gather(*claims),
                                                  strict=True)]

    rulings = [disputes.resolve("north", "D1", "reassign", "manager:m", f"try {n}")
               for n in range(8)]
    *steps, outcomes = await asyncio.gather(*rulings, next_lead())
    assert sorted(s.status for s in steps) == [Status.OK] + [Status.REJECTED] * 7
    assert {s.reason for s in steps if not s.ok} == {Reason.ALREADY_RESOLVED}
    entries = await redis.xrange(keys.audit("north"))
    ruled = [n for n, (_, f) in enumerate(entries) if f["action"] == "dispute_ruling"]
    given = [n for n, (_, f) in enumerate(entries)
             if f.get("lead") == "L2" and f["action"] in ("assign", "claim")
             and f.get("result") in ("ok", "won") and f.get("note") != "already_holder"]
    assert len(ruled) == 1 and len(given) == 1
    l2_holder = "ann" if given[0] < ruled[0] else "ben"
    assert entries[given[0]][1]["rep"] == l2_holder
    # L2 went to the customer's holder as a duplicate: only its holder's claims answer won
    assert {rep for rep, result in outcomes if result is Outcome.WON} <= {l2_holder}
    assert await redis.hget(keys.lead("north", "L1"), "holder") == "ben"
    assert await redis.hget(keys.lead("north", "L2"), "holder") == l2_holder
    assert await redis.hget(keys.customer("north", "C1"), "owner") == "ben"
    held = {rep: await redis.smembers(keys.held("north", rep)) for rep in ("ann", "ben", "cat")}
    assert held["ben"] >= {"L1"} and "L1" not in held["ann"] | held["cat"]
    assert sum("L2" in s for s in held.values()) == 1
