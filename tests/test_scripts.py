"""Each Lua script called directly through the store, on real Redis, with a controlled clock."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from server.config import Config
from server.contracts.reasons import Outcome, Reason
from server.floor.arbiter import Arbiter
from server.floor.lead import NewLead
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock
from tests.helpers import publish


@pytest.fixture
async def arbiter(store: Store, config: Config) -> Arbiter:
    arb = Arbiter(store, config)
    await arb.apply_rules(config)
    return arb


async def test_load_rules_versions_only_on_change(store: Store, config: Config,
                                                  redis: Redis) -> None:
    arb = Arbiter(store, config)
    first = await arb.apply_rules(config)
    again = await arb.apply_rules(config)
    assert (first[0].version, first[0].changed) == (1, True)
    assert (again[0].version, again[0].changed) == (1, False)
    alice = json.loads(await redis.hget(keys.rules("north"), "rep:alice"))
    assert alice["max_open"] == 3 and alice["max_daily"] == 5
    assert await redis.zcard(keys.days("north")) == 408


async def test_publish_is_idempotent(arbiter: Arbiter, redis: Redis) -> None:
    first = await arbiter.publish(NewLead(id="L1", team="north", value=100), "crm")
    second = await arbiter.publish(NewLead(id="L1", team="north", value=999), "crm")
    assert first.created and not second.created and first.seq == second.seq
    assert await redis.xlen(keys.events("north")) == 1
    stored = json.loads(await redis.hget(keys.lead("north", "L1"), "payload"))
    assert stored["value"] == 100


async def test_claim_win_then_lost(arbiter: Arbiter, redis: Redis) -> None:
    await publish(arbiter, region="north")
    won = await arbiter.claim("alice", "L1", "r1")
    lost = await arbiter.claim("bob", "L1", "r2")
    assert won.result is Outcome.WON and won.rules_version == 1
    assert lost.result is Outcome.LOST and lost.reason is None
    assert await redis.hget(keys.lead("north", "L1"), "holder") == "alice"
    kinds = [f["type"] for _, f in await redis.xrange(keys.events("north"))]
    assert kinds == ["lead", "taken"]


async def test_claim_retry_is_idempotent(arbiter: Arbiter, redis: Redis) -> None:
    await publish(arbiter)
    first = await arbiter.claim("alice", "L1", "same")
    again = await arbiter.claim("alice", "L1", "same")
    assert first == again
    state = await redis.hgetall(keys.rep_state("north", "alice"))
    assert state["day_count"] == "1"


@pytest.mark.parametrize(
    ("rep", "fields", "reason"),
    [
        ("carol", {}, Reason.INELIGIBLE),  # inactive
        ("bob", {"region": "east"}, Reason.INELIGIBLE),
        ("bob", {"skills": ["solar"]}, Reason.INELIGIBLE),
        ("nobody", {}, Reason.INELIGIBLE),
    ],
)
async def test_ineligible(arbiter: Arbiter, rep: str, fields: dict[str, object],
                          reason: Reason) -> None:
    await publish(arbiter, **fields)
    result = await arbiter.claim(rep, "L1", "r")
    assert (result.result, result.reason) == (Outcome.REJECTED, reason)


async def test_not_found_and_closed(arbiter: Arbiter) -> None:
    assert (await arbiter.claim("alice", "nope", "r")).reason is Reason.NOT_FOUND
    await publish(arbiter)
    await arbiter.claim("alice", "L1", "r1")
    assert (await arbiter.close("alice", "L1", "won")).ok
    assert (await arbiter.claim("bob", "L1", "r2")).reason is Reason.CLOSED


async def test_cooldown_boundary(arbiter: Arbiter, clock: ManualClock) -> None:
    await publish(arbiter, "L1")
    await publish(arbiter, "L2")
    await arbiter.claim("bob", "L1", "r1")
    clock.advance(999)
    early = await arbiter.claim("bob", "L2", "r2")
    assert (early.reason, early.retry_after_ms) == (Reason.COOLDOWN, 1)
    clock.advance(1)
    assert (await arbiter.claim("bob", "L2", "r3")).result is Outcome.WON


async def test_quota_open_frees_on_close_and_release(arbiter: Arbiter, clock: ManualClock) -> None:
    for n in range(4):
        await publish(arbiter, f"L{n}")
    for n in range(2):
        assert (await arbiter.claim("bob", f"L{n}", f"r{n}")).result is Outcome.WON
        clock.advance(1000)
    full = await arbiter.claim("bob", "L2", "r2")
    assert (full.reason, full.retry_after_ms) == (Reason.QUOTA_OPEN, None)
    assert (await arbiter.release("bob", "L0")).ok
    assert (await arbiter.claim("bob", "L2", "r3")).result is Outcome.WON
    clock.advance(1000)
    assert (await arbiter.close("bob", "L1", "lost")).ok
    assert (await arbiter.claim("bob", "L3", "r4")).result is Outcome.WON


async def test_release_reoffers_and_checks_holder(arbiter: Arbiter, redis: Redis) -> None:
    await publish(arbiter)
    assert (await arbiter.release("bob", "L1")).reason is Reason.NOT_HOLDER
    await arbiter.claim("alice", "L1", "r1")
    assert (await arbiter.release("bob", "L1")).reason is Reason.NOT_HOLDER
    released = await arbiter.release("alice", "L1")
    assert released.ok and released.seq
    assert (await arbiter.claim("bob", "L1", "r2")).result is Outcome.WON
    kinds = [f["type"] for _, f in await redis.xrange(keys.events("north"))]
    assert kinds == ["lead", "taken", "lead", "taken"]
    assert (await arbiter.release("alice", "missing")).reason is Reason.NOT_FOUND


async def test_close_requires_holder(arbiter: Arbiter) -> None:
    await publish(arbiter)
    assert (await arbiter.close("alice", "L1", "won")).reason is Reason.NOT_HOLDER
    await arbiter.claim("alice", "L1", "r1")
    assert (await arbiter.close("alice", "L1", "won")).ok
    assert (await arbiter.close("alice", "L1", "won")).reason is Reason.CLOSED


async def test_audit_trail_records_every_decision(arbiter: Arbiter) -> None:
    await publish(arbiter)
    await arbiter.claim("alice", "L1", "r1")
    await arbiter.claim("bob", "L1", "r2")
    await arbiter.close("alice", "L1", "won")
    view = await arbiter.lead_state("north", "L1")
    trail = [(e["action"], e.get("rep", ""), e["result"]) for e in view["audit"]]
    assert trail == [("publish", "", "ok"), ("claim", "alice", "won"), ("claim", "bob", "lost"),
                     ("close", "alice", "ok")]
    assert all(e["rules_version"] == "1" for e in view["audit"][1:])


async def test_same_rep_reclaiming_held_lead_is_won_without_counting(arbiter: Arbiter,
                                                                     redis: Redis) -> None:
    await publish(arbiter)
    await arbiter.claim("alice", "L1", "r1")
    again = await arbiter.claim("alice", "L1", "r2")
    assert again.result is Outcome.WON
    assert await redis.hget(keys.rep_state("north", "alice"), "day_count") == "1"


async def test_scripts_survive_script_flush(arbiter: Arbiter, redis: Redis) -> None:
    await publish(arbiter, "L1")
    await redis.script_flush()
    assert (await arbiter.claim("alice", "L1", "r1")).result is Outcome.WON
