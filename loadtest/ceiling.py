"""The Redis ceilings of a claim: SET NX and the claim script, pipelined from one client."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from loadtest import serverconfig
from server.store import keys, scripts
from server.store.keys import Retention

BATCH = 128
LEADS = 500
LIMITS = Retention(serverconfig.STREAM_MAXLEN, serverconfig.AUDIT_MAXLEN,
                serverconfig.IDEMPOTENCY_TTL_S * 1000)


async def set_nx(redis_url: str, team: str, seconds: float, run_id: str) -> dict[str, Any]:
    """Raw `SET key 1 NX PX` through a pipeline: what Redis does with the simplest race (the
    keys carry the team's hash tag: on a cluster they live on the team's node)."""
    client = Redis.from_url(redis_url)
    ops, started = 0, time.perf_counter()
    try:
        while time.perf_counter() - started < seconds:
            async with client.pipeline(transaction=False) as pipe:
                for i in range(BATCH):
                    pipe.set(f"lt:{{{team}}}:{run_id}:nx:{(ops + i) % 50_000}", "1", nx=True,
                             px=60_000)
                await pipe.execute()
            ops += BATCH
    finally:
        await client.aclose()
    return _rate(ops, time.perf_counter() - started)


async def claim_script(redis_url: str, team: str, reps: int, seconds: float, run_id: str,
                       leads: list[str]) -> dict[str, Any]:
    """claim_lead.lua through a pipeline, reps taking turns over `leads` (published already)."""
    client = Redis.from_url(redis_url, decode_responses=True)
    claim = client.register_script(scripts.source("claim_lead"))
    try:
        ops, results, started = 0, Counter[str](), time.perf_counter()
        while time.perf_counter() - started < seconds:
            replies = await _claims(client, claim, team, reps, leads, run_id, ops)
            results.update(str(reply[0]) for reply in replies)
            ops += BATCH
    finally:
        await client.aclose()
    return {**_rate(ops, time.perf_counter() - started), "results": dict(results)}


async def _claims(client: Redis, claim: AsyncScript, team: str, reps: int, leads: list[str],
                  run_id: str, first: int) -> list[Any]:
    async with client.pipeline(transaction=False) as pipe:
        for n in range(first, first + BATCH):
            rep = serverconfig.rep_id(n % reps)
            call = keys.claim_call(team, rep, leads[(n // 7) % len(leads)], f"{run_id}c.{n}",
                                   LIMITS, "")
            await claim(keys=call.keys, args=call.args, client=pipe)
        replies: list[Any] = await pipe.execute()
    return replies


def _rate(ops: int, seconds: float) -> dict[str, Any]:
    return {"ops": ops, "seconds": round(seconds, 3), "ops_per_s": round(ops / seconds, 1)}
