"""The Redis boundary: one typed async wrapper per Lua script; driver errors wrapped here once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from redis import exceptions as rexc
from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from server import keys
from server.keys import Limits, ScriptCall
from server.reasons import Outcome, Reason
from server.results import ActionResult, ClaimResult, PublishResult, RulesLoad, Settlement
from server.scripts import Scripts, register


class StoreError(Exception):
    """A fault talking to Redis; `temporary` says whether retrying later may help."""

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


@dataclass
class ManualClock:
    """A clock the scripts use instead of Redis TIME when `now_ms` is set (tests only)."""

    now_ms: int | None = None

    def advance(self, ms: int) -> None:
        """Move the clock forward."""
        assert self.now_ms is not None, "set now_ms before advancing"
        self.now_ms += ms


@asynccontextmanager
async def _wrapped() -> AsyncIterator[None]:
    try:
        yield
    except (rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError) as exc:
        raise StoreError(f"Redis unavailable: {exc}", temporary=True) from exc
    except rexc.RedisError as exc:
        raise StoreError(f"Redis error: {exc}", temporary=False) from exc


class Store:
    """Runs the arbitration scripts; never does read-modify-write in Python."""

    def __init__(self, redis: Redis, limits: Limits, clock: ManualClock | None = None) -> None:
        self.redis = redis
        self.limits = limits
        self.clock = clock or ManualClock()
        self.scripts: Scripts = register(redis)

    def now_arg(self) -> str:
        """The clock override for ARGV[1], or '' for Redis TIME."""
        return "" if self.clock.now_ms is None else str(self.clock.now_ms)

    async def run(self, script: AsyncScript, call: ScriptCall) -> Any:
        """Run one script with its KEYS/ARGV, wrapping driver errors."""
        async with _wrapped():
            return await script(keys=call.keys, args=call.args)

    async def call(self, awaitable: Awaitable[Any]) -> Any:
        """Await a plain Redis command, wrapping driver errors."""
        async with _wrapped():
            return await awaitable

    async def load_rules(self, team: str, digest: str, team_json: str,
                         day_rows: list[tuple[str, int]],
                         rep_rows: list[tuple[str, str]]) -> RulesLoad:
        call = keys.load_rules_call(team, digest, team_json, day_rows, rep_rows,
                                    self.limits.audit_maxlen, self.now_arg())
        version, changed = await self.run(self.scripts.load_rules, call)
        return RulesLoad(team, int(version), bool(changed))

    async def publish(self, team: str, lead_id: str, payload_json: str,
                      actor: str) -> PublishResult:
        call = keys.publish_call(team, lead_id, payload_json, self.limits, self.now_arg(), actor)
        status, seq = await self.run(self.scripts.publish_lead, call)
        return PublishResult(lead_id, seq, status == "published")

    async def claim(self, team: str, rep: str, lead_id: str, req_id: str) -> ClaimResult:
        call = keys.claim_call(team, rep, lead_id, req_id, self.limits, self.now_arg())
        reply = await self.run(self.scripts.claim_lead, call)
        return parse_claim(lead_id, req_id, reply)

    async def release(self, team: str, rep: str, lead_id: str) -> ActionResult:
        call = keys.release_call(team, rep, lead_id, self.limits, self.now_arg())
        status, reason, seq = await self.run(self.scripts.release_lead, call)
        return ActionResult(lead_id, status == "ok", Reason(reason) if reason else None,
                            seq or None)

    async def close(self, team: str, rep: str, lead_id: str, outcome: str) -> ActionResult:
        call = keys.close_call(team, rep, lead_id, outcome, self.limits, self.now_arg())
        status, reason = await self.run(self.scripts.close_lead, call)
        return ActionResult(lead_id, status == "ok", Reason(reason) if reason else None)

    async def settle(self, team: str, lead_id: str) -> Settlement:
        """Settle a lead's window if it is due; re-reads the candidates if they changed."""
        for _ in range(3):
            raw = await self.call(self.redis.hgetall(keys.candidates(team, lead_id)))
            reps = sorted(rep for rep, entry in raw.items() if '"result"' not in entry)
            call = keys.settle_call(team, lead_id, reps, self.limits, self.now_arg())
            status, detail = await self.run(self.scripts.settle_window, call)
            if status != "stale":
                return Settlement(lead_id, status, detail)
        return Settlement(lead_id, "stale", "")


def parse_claim(lead_id: str, req_id: str, reply: list[Any]) -> ClaimResult:
    """Turn claim_lead.lua's reply into a ClaimResult."""
    result, reason, retry_after_ms, version = reply
    return ClaimResult(
        lead_id=lead_id,
        req_id=req_id,
        result=Outcome(result),
        reason=Reason(reason) if reason else None,
        retry_after_ms=int(retry_after_ms) or None,
        rules_version=int(version),
    )
