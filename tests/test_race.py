"""Headline races on real Redis: exactly one winner per lead, and quotas hold under concurrency."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import BlockingConnectionPool, Redis

from server.config import Config, parse_config
from server.contracts.reasons import Outcome
from server.contracts.results import ClaimResult
from server.floor.arbiter import Arbiter
from server.floor.lead import NewLead
from server.store import keys
from server.store.store import Store
from tests.conftest import LIMITS

TEAM = "north"


def team_config(reps: int, max_open: int) -> Config:
    """One team of `reps` eligible reps r000.., cooldown 0 and a daily quota that never binds."""
    head = f"""
[teams.{TEAM}]
timezone = "Europe/Berlin"
rules = {{ max_open = {max_open}, max_daily = 1000000, cooldown_after_claim_ms = 0, \
penalty_cooldown_ms = 0 }}
"""
    body = "".join(f'\n[[reps]]\nid = "r{n:03d}"\nteam = "{TEAM}"\n' for n in range(reps))
    return parse_config(head + body)


def rep_ids(config: Config) -> list[str]:
    return [rep.id for rep in config.reps]


async def start(client: Redis, config: Config, leads: list[str]) -> Arbiter:
    """An arbiter on its own client (Redis TIME, as in production) with the leads published."""
    arbiter = Arbiter(Store(client, LIMITS), config)
    await arbiter.apply_rules(config)
    for lead in leads:
        await arbiter.publish(NewLead(id=lead, team=TEAM), "test")
    return arbiter


@pytest.fixture
async def wide(redis: Redis, redis_url: str) -> AsyncIterator[Redis]:
    """A client whose pool lets 200+ commands be in flight at once (`redis` flushed the db)."""
    client = Redis.from_url(redis_url, decode_responses=True, max_connections=256)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def queued(redis: Redis, redis_url: str) -> AsyncIterator[Redis]:
    """A client whose commands queue for one of 64 connections instead of failing."""
    pool = BlockingConnectionPool.from_url(redis_url, decode_responses=True,
                                           max_connections=64, timeout=20)
    client = Redis.from_pool(pool)
    try:
        yield client
    finally:
        await client.aclose()


async def audit_entries(redis: Redis) -> list[dict[str, str]]:
    return [fields for _, fields in await redis.xrange(keys.audit(TEAM))]


async def held_sets(redis: Redis, reps: list[str]) -> dict[str, set[str]]:
    async with redis.pipeline(transaction=False) as pipe:
        for rep in reps:
            pipe.smembers(keys.held(TEAM, rep))
        found = await pipe.execute()
    return {rep: set(leads) for rep, leads in zip(reps, found, strict=True)}


async def lead_holders(redis: Redis, leads: list[str]) -> dict[str, str]:
    """lead -> holder for every lead in state held."""
    async with redis.pipeline(transaction=False) as pipe:
        for lead in leads:
            pipe.hmget(keys.lead(TEAM, lead), "state", "holder")
        found = await pipe.execute()
    return {lead: holder for lead, (state, holder) in zip(leads, found, strict=True)
            if state == "held"}


def claim_wins(entries: list[dict[str, str]], lead: str) -> list[dict[str, str]]:
    return [e for e in entries
            if e["action"] == "claim" and e["lead"] == lead and e["result"] == "won"]


async def test_200_claimers_one_lead_one_winner(wide: Redis) -> None:
    await one_winner_race(wide)
    clients = await wide.info("clients")
    assert clients["connected_clients"] >= 8, "claims did not overlap"


async def one_winner_race(wide: Redis) -> None:
    """Three leads in turn (the first with a cold script cache), 200 claimers on each,
    spread over 8 stores (as over 8 server processes): their pipelines interleave."""
    config = team_config(200, max_open=1000)
    reps = rep_ids(config)
    leads = [f"L{n}" for n in range(3)]
    first = await start(wide, config, leads)
    arbiters = [first, *[Arbiter(Store(wide, LIMITS), config) for _ in range(7)]]
    for arbiter in arbiters[1:]:
        await arbiter.refresh_roster()
    for lead in leads:
        order = random.Random(lead).sample(reps, len(reps))
        results = await asyncio.gather(*(arbiters[n % 8].claim(r, lead, f"{r}:{lead}")
                                         for n, r in enumerate(order)))
        await assert_one_winner(wide, reps, lead, order, results)


async def assert_one_winner(redis: Redis, reps: list[str], lead: str, order: list[str],
                            results: list[ClaimResult]) -> None:
    outcomes = Counter(r.result for r in results)
    assert outcomes == {Outcome.WON: 1, Outcome.LOST: len(reps) - 1}
    winner = next(rep for rep, r in zip(order, results, strict=True) if r.result is Outcome.WON)
    assert await redis.hget(keys.lead(TEAM, lead), "holder") == winner
    holding = [rep for rep, held in (await held_sets(redis, reps)).items() if lead in held]
    assert holding == [winner]
    entries = await audit_entries(redis)
    assert [e["rep"] for e in claim_wins(entries, lead)] == [winner]
    claims = [e for e in entries if e["action"] == "claim" and e["lead"] == lead]
    assert len(claims) == len(reps)
    taken = [f for _, f in await redis.xrange(keys.events(TEAM))
             if f["type"] == "taken" and f["lead_id"] == lead]
    assert len(taken) == 1


async def rep_worker(arbiter: Arbiter, rep: str, leads: list[str], seed: int) -> None:
    """Claim every lead in a shuffled order, five at a time; release or close some wins."""
    rng = random.Random(f"{seed}:{rep}")
    order = rng.sample(leads, len(leads))
    for i in range(0, len(order), 5):
        batch = order[i:i + 5]
        results = await asyncio.gather(*(arbiter.claim(rep, lead, f"{rep}:{lead}")
                                         for lead in batch))
        for result in results:
            if result.result is not Outcome.WON:
                continue
            roll = rng.random()
            if roll < 0.25:
                assert (await arbiter.release(rep, result.lead_id)).ok
            elif roll < 0.5:
                assert (await arbiter.close(rep, result.lead_id, "won")).ok


@pytest.mark.parametrize("seed", [1, 2])
async def test_max_open_holds_under_concurrency(queued: Redis, seed: int) -> None:
    await max_open_race(queued, seed)


async def max_open_race(queued: Redis, seed: int) -> None:
    """20 reps claim 50 leads five at a time, releasing or closing some wins: never more
    than two held per rep, in Redis and in the replayed audit."""
    config = team_config(20, max_open=2)
    reps = rep_ids(config)
    leads = [f"L{n:02d}" for n in range(50)]
    arbiter = await start(queued, config, leads)
    await asyncio.gather(*(rep_worker(arbiter, rep, leads, seed) for rep in reps))
    held = await held_sets(queued, reps)
    holders = await lead_holders(queued, leads)
    assert all(len(s) <= 2 for s in held.values()), held
    assert sum(len(s) for s in held.values()) == len(holders)
    for lead, holder in holders.items():
        assert [rep for rep, s in held.items() if lead in s] == [holder]
    entries = await audit_entries(queued)
    open_counts = replay_audit(entries, len(reps) * len(leads))
    assert all(open_counts.get(rep, 0) == len(s) for rep, s in held.items())
    reasons = Counter(e.get("reason") for e in entries if e["action"] == "claim")
    assert reasons["quota_open"] > 0, "the open quota never bound; the test proves nothing"


def replay_audit(entries: list[dict[str, str]], expected_claims: int) -> dict[str, int]:
    """Replay the audit in order: never more than two open per rep, one holder per lead."""
    open_now: dict[str, int] = defaultdict(int)
    holder: dict[str, str] = {}
    wins: Counter[str] = Counter()
    released: set[str] = set()
    claims = 0
    for e in entries:
        action, rep, lead = e["action"], e.get("rep", ""), e.get("lead", "")
        if action == "claim":
            claims += 1
            if e["result"] == "won" and e.get("note") != "already_holder":
                assert lead not in holder, f"{lead} won while held by {holder.get(lead)}"
                holder[lead] = rep
                open_now[rep] += 1
                wins[lead] += 1
                assert open_now[rep] <= 2, f"{rep} held {open_now[rep]} at {e}"
        elif action in ("release", "close"):
            assert holder.pop(lead) == rep
            open_now[rep] -= 1
            released.update([lead] if action == "release" else [])
    assert claims == expected_claims
    assert all(wins[lead] <= 1 for lead in wins if lead not in released)
    return dict(open_now)


async def test_two_server_processes_race(redis: Redis, redis_url: str) -> None:
    config = team_config(40, max_open=1000)
    reps = rep_ids(config)
    leads = [f"L{n}" for n in range(5)]
    one = Redis.from_url(redis_url, decode_responses=True, max_connections=64)
    two = Redis.from_url(redis_url, decode_responses=True, max_connections=64)
    try:
        first = await start(one, config, leads)
        second = await start(two, config, [])
        for lead in leads:
            order = random.Random(lead).sample(reps, len(reps))
            results = await asyncio.gather(*(
                (first if n % 2 else second).claim(rep, lead, f"{rep}:{lead}")
                for n, rep in enumerate(order)))
            await assert_one_winner(redis, reps, lead, order, results)
    finally:
        await one.aclose()
        await two.aclose()


async def test_retry_through_both_processes_counts_once(redis: Redis, redis_url: str) -> None:
    config = team_config(2, max_open=1000)
    one = Redis.from_url(redis_url, decode_responses=True)
    two = Redis.from_url(redis_url, decode_responses=True)
    try:
        first = await start(one, config, ["L1"])
        second = await start(two, config, [])
        tries = [arb.claim("r000", "L1", "same-req") for arb in (first, second) * 10]
        results = await asyncio.gather(*tries)
    finally:
        await one.aclose()
        await two.aclose()
    assert {r.result for r in results} == {Outcome.WON}
    assert await redis.hget(keys.rep_state(TEAM, "r000"), "day_count") == "1"
    claims = [e for e in await audit_entries(redis) if e["action"] == "claim"]
    assert [(e["rep"], e["result"]) for e in claims] == [("r000", "won")]
