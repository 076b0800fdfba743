"""Retention on real Redis: a finished lead's keys and a rep's lockouts expire, live ones don't."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import aiohttp
from redis.asyncio import Redis

from server.app import create_app
from server.config import ConfigError, parse_config
from server.contracts.reasons import Outcome
from server.store import keys
from server.store.store import Store
from server.web.auth import Role
from tests.clock import ManualClock
from tests.conftest import LIMITS, gateway_config, running
from tests.test_policies import arbiter_for, floor, publish

DAY_MS = 86_400_000
KEEP_MS = 3 * DAY_MS


async def leases(redis: Redis, *names: str) -> list[int]:
    """PTTL of each key: ms left, -1 for no expiry, -2 for no key."""
    return [await redis.pttl(name) for name in names]


def lead_keys(lead_id: str) -> tuple[str, str]:
    return keys.lead("north", lead_id), keys.trail("north", lead_id)


async def test_closed_and_withdrawn_leads_expire_and_live_ones_stay(redis: Redis,
                                                                    clock: ManualClock) -> None:
    store = Store(redis, dataclasses.replace(LIMITS, lead_retention_ms=KEEP_MS), clock)
    arbiter = await arbiter_for(store, floor())
    for lead_id in ("L-OPEN", "L-HELD", "L-CLOSED", "L-GONE"):
        await publish(arbiter, lead_id)
    for lead_id in ("L-HELD", "L-CLOSED"):
        assert (await arbiter.claim("ann", lead_id, lead_id)).result is Outcome.WON
    assert (await arbiter.close("ann", "L-CLOSED", "won")).ok
    assert (await arbiter.withdraw("north", "L-GONE", "manager:mia", "duplicate")).status == "ok"

    for lead_id in ("L-OPEN", "L-HELD"):
        assert await leases(redis, *lead_keys(lead_id)) == [-1, -1]
    for lead_id in ("L-CLOSED", "L-GONE"):
        left = await leases(redis, *lead_keys(lead_id))
        assert all(KEEP_MS - 60_000 < ms <= KEEP_MS for ms in left)
    # and until then it is still a finished lead, not an unknown one
    assert (await arbiter.claim("ben", "L-CLOSED", "b1")).reason == "closed"


async def test_retention_zero_keeps_finished_leads(redis: Redis, clock: ManualClock) -> None:
    arbiter = await arbiter_for(Store(redis, LIMITS, clock), floor())  # LIMITS: retention 0
    await publish(arbiter, "L1")
    assert (await arbiter.claim("ann", "L1", "a1")).result is Outcome.WON
    assert (await arbiter.close("ann", "L1", "lost")).ok
    assert await leases(redis, *lead_keys("L1")) == [-1, -1]


async def test_a_lockout_hash_lives_a_day_past_its_latest_lockout(redis: Redis,
                                                                  clock: ManualClock) -> None:
    arbiter = await arbiter_for(Store(redis, LIMITS, clock), floor())  # lockout 5 s
    for lead_id in ("L1", "L2"):
        await publish(arbiter, lead_id)
        assert (await arbiter.claim("ann", lead_id, lead_id)).result is Outcome.WON
    assert (await arbiter.release("ann", "L1")).ok
    (ttl,) = await leases(redis, keys.lockout("north", "ann"))
    assert DAY_MS < ttl <= DAY_MS + 5_000
    clock.advance(2_000)
    assert (await arbiter.release("ann", "L2")).ok
    (later,) = await leases(redis, keys.lockout("north", "ann"))
    assert DAY_MS + 4_000 < later <= DAY_MS + 5_000  # the new lockout ends later: kept longer
    assert (await arbiter.claim("ann", "L1", "again")).reason == "locked_out"


def test_retention_is_validated() -> None:
    text = "[server]\nlead_retention_s = -1\n" + floor()
    try:
        parse_config(text)
    except ConfigError as exc:
        assert "server.lead_retention_s" in str(exc)
    else:
        raise AssertionError("a negative retention was accepted")
    assert parse_config("[server]\nlead_retention_s = 0\n" + floor()).server.lead_retention_s == 0
    assert parse_config(floor()).server.lead_retention_s == 30 * 86_400


async def test_after_retention_the_lead_is_gone_and_its_id_may_be_published_again(
        redis: Redis, redis_url: str, tmp_path: Path) -> None:
    config = gateway_config(tmp_path, extra_server="lead_retention_s = 1")
    async with running(create_app(config, redis=redis_url), redis) as gw:
        integration = {"Authorization": f"Bearer {gw.role_token(Role.INTEGRATION)}"}
        alice = {"Authorization": f"Bearer {gw.token('alice')}"}
        body = {"id": "R1", "team": "north", "region": "north"}
        async with aiohttp.ClientSession() as http:
            async with http.post(gw.url("/api/leads"), json=body, headers=integration) as resp:
                assert (await resp.json())["created"] is True
            async with http.post(gw.url("/api/leads/R1/claim"), json={"req_id": "a1"},
                                 headers=alice) as resp:
                assert (await resp.json())["result"] == "won"
            async with http.post(gw.url("/api/leads/R1/close"), json={"outcome": "won"},
                                 headers=alice) as resp:
                assert resp.status == 200, await resp.text()
            async with asyncio.timeout(10):
                while await redis.exists(keys.lead("north", "R1")):
                    await asyncio.sleep(0.2)
            async with http.get(gw.url("/api/leads/R1"), headers=alice) as resp:
                assert resp.status == 404
            manager = {"Authorization": f"Bearer {gw.role_token(Role.MANAGER)}"}
            async with http.get(gw.url("/api/audit?team=north&lead=R1"), headers=manager) as resp:
                history = [e["action"] for e in (await resp.json())["entries"]]
                assert history == ["publish", "claim", "close"]  # still in the audit stream
            async with http.post(gw.url("/api/leads"), json=body, headers=integration) as resp:
                assert (await resp.json())["created"] is True


async def test_a_customer_record_lives_while_held_then_a_day_past_its_protection(
        redis: Redis, clock: ManualClock) -> None:
    arbiter = await arbiter_for(Store(redis, LIMITS, clock),
                                floor("protection_period_ms = 3600000"))
    customer = keys.customer("north", "C1")
    await publish(arbiter, "L1", customer_id="C1")
    assert (await arbiter.claim("ann", "L1", "a1")).result is Outcome.WON
    assert await leases(redis, customer) == [-1]  # held: kept
    assert (await arbiter.close("ann", "L1", "won")).ok
    (ttl,) = await leases(redis, customer)
    assert DAY_MS + 3_500_000 < ttl <= DAY_MS + 3_600_000  # ann owns C1 for the protection
    await publish(arbiter, "L2", customer_id="C1")
    assert (await arbiter.claim("ann", "L2", "a2")).result is Outcome.WON
    assert await leases(redis, customer) == [-1]
    assert (await arbiter.release("ann", "L2")).ok  # a release gives the customer up
    (ttl,) = await leases(redis, customer)
    assert DAY_MS - 60_000 < ttl <= DAY_MS
