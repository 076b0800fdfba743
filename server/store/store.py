"""The Redis boundary: one typed async wrapper per Lua script; driver errors wrapped here once."""

from __future__ import annotations

import contextlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.commands.core import AsyncScript

from server.contracts.reasons import Outcome, Reason
from server.contracts.results import (
    ActionResult,
    ClaimResult,
    LeadRefs,
    PublishResult,
    RulesLoad,
    Settlement,
)
from server.store import backend, keys
from server.store.backend import Client
from server.store.batch import Batcher
from server.store.keys import Limits, ScriptCall
from server.store.scripts import Scripts, register

CUSTOMER_CACHE = 50_000
STALE_RETRIES = 3


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


def _fault(exc: Exception) -> StoreError:
    """The one place driver errors become StoreError (temporary when retrying may help)."""
    if isinstance(exc, backend.TEMPORARY):
        return StoreError(f"Redis unavailable: {exc}", temporary=True)
    return StoreError(f"Redis error: {exc}", temporary=False)


async def connect(url: str, max_connections: int = backend.POOL_CONNECTIONS) -> Client:
    """`backend.connect` with the driver's errors wrapped."""
    try:
        return await backend.connect(url, max_connections)
    except backend.FAULTS as exc:
        raise _fault(exc) from exc


class Store:
    """Runs the arbitration scripts; never does read-modify-write in Python.

    Scripts that act on a lead's holder or customer take them as arguments (their keys must
    be in KEYS) and answer 'stale' if the lead changed since it was read; `with_lead` reads
    the lead again and retries.
    """

    def __init__(self, redis: Client, limits: Limits, clock: ManualClock | None = None) -> None:
        self.redis = redis
        self.limits = limits
        self.clock = clock or ManualClock()
        self.scripts: Scripts = register(redis)
        self.batcher = Batcher(redis)
        self.customers: OrderedDict[tuple[str, str], str] = OrderedDict()

    def now_arg(self) -> str:
        """The clock override for ARGV[1], or '' for Redis TIME."""
        return "" if self.clock.now_ms is None else str(self.clock.now_ms)

    async def run(self, script: AsyncScript, call: ScriptCall) -> Any:
        """Run one script with its KEYS/ARGV (batched with the others of this loop tick),
        wrapping driver errors."""
        try:
            return await self.batcher.submit(script, call)
        except backend.FAULTS as exc:
            raise _fault(exc) from exc

    async def call(self, awaitable: Awaitable[Any]) -> Any:
        """Await a plain Redis command, wrapping driver errors."""
        try:
            return await awaitable
        except backend.FAULTS as exc:
            raise _fault(exc) from exc

    @contextlib.asynccontextmanager
    async def pipeline(self) -> AsyncIterator[Any]:
        """A non-transactional pipeline (on a cluster, one per node), driver errors wrapped:
        a cluster client may fail in setting it up, before `execute`."""
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                yield pipe
        except backend.FAULTS as exc:
            raise _fault(exc) from exc

    async def answering(self, teams: list[str]) -> None:
        """Raise StoreError unless Redis answers a read of every team's keys (on a cluster,
        each team's node, and a cluster that is up)."""
        async with self.pipeline() as pipe:
            for team in teams:
                pipe.exists(keys.rules(team))
            await pipe.execute()

    async def lead_refs(self, team: str, lead_id: str) -> LeadRefs:
        """A lead's current holder and customer id (for the KEYS of scripts that need them)."""
        holder, customer = await self.call(
            self.redis.hmget(keys.lead(team, lead_id), "holder", "customer_id"))
        refs = LeadRefs(holder or "", customer or "")
        self.remember_customer(team, lead_id, refs.customer_id)
        return refs

    def remember_customer(self, team: str, lead_id: str, customer_id: str) -> None:
        """Cache a lead's customer id so a claim needs no extra read (bounded LRU)."""
        if not customer_id:  # "" is what a miss answers: keep nothing (unknown leads, too)
            self.customers.pop((team, lead_id), None)
            return
        self.customers[(team, lead_id)] = customer_id
        self.customers.move_to_end((team, lead_id))
        while len(self.customers) > CUSTOMER_CACHE:
            self.customers.popitem(last=False)

    async def with_lead(self, team: str, lead_id: str, script: AsyncScript,
                        build: Callable[[LeadRefs], ScriptCall],
                        refs: LeadRefs | None = None) -> Any:
        """Run a script built from the lead's refs; re-read them while it answers 'stale'."""
        refs = refs or await self.lead_refs(team, lead_id)
        for _ in range(STALE_RETRIES):
            reply = await self.run(script, build(refs))
            if reply[0] != "stale":
                return reply
            refs = await self.lead_refs(team, lead_id)
        raise StoreError(f"lead {lead_id} kept changing; try again", temporary=True)

    async def load_rules(self, team: str, digest: str, team_json: str,
                         day_rows: list[tuple[str, int]],
                         rep_rows: list[tuple[str, str, str]]) -> RulesLoad:
        call = keys.load_rules_call(team, digest, team_json, day_rows, rep_rows,
                                    self.limits.audit_maxlen, self.now_arg())
        version, changed = await self.run(self.scripts.load_rules, call)
        return RulesLoad(team, int(version), bool(changed))

    async def publish(self, team: str, lead_id: str, payload_json: str, actor: str,
                      policy_json: str = "{}", customer_id: str = "") -> PublishResult:
        holder = ""
        for _ in range(STALE_RETRIES):
            if customer_id:
                found = await self.call(self.redis.hget(keys.customer(team, customer_id),
                                                        "holder"))
                holder = found or ""
            call = keys.publish_call(team, lead_id, payload_json, self.limits, self.now_arg(),
                                     actor, policy_json, holder, customer_id)
            status, seq = await self.run(self.scripts.publish_lead, call)
            if status != "stale":
                self.remember_customer(team, lead_id, customer_id)
                return PublishResult(lead_id, seq, status != "duplicate", status == "assigned")
        raise StoreError(f"customer {customer_id} kept changing; try again", temporary=True)

    async def claim(self, team: str, rep: str, lead_id: str, req_id: str) -> ClaimResult:
        refs = LeadRefs("", self.customers.get((team, lead_id), ""))

        def build(r: LeadRefs) -> ScriptCall:
            return keys.claim_call(team, rep, lead_id, req_id, self.limits, self.now_arg(),
                                   r.customer_id)

        reply = await self.with_lead(team, lead_id, self.scripts.claim_lead, build, refs)
        return parse_claim(lead_id, req_id, reply)

    async def release(self, team: str, rep: str, lead_id: str) -> ActionResult:
        def build(r: LeadRefs) -> ScriptCall:
            return keys.release_call(team, rep, lead_id, self.limits, self.now_arg(),
                                     r.customer_id)

        status, reason, seq = await self.with_lead(team, lead_id, self.scripts.release_lead,
                                                   build)
        return ActionResult(lead_id, status == "ok", Reason(reason) if reason else None,
                            seq or None)

    async def close(self, team: str, rep: str, lead_id: str, outcome: str) -> ActionResult:
        def build(r: LeadRefs) -> ScriptCall:
            return keys.close_call(team, rep, lead_id, outcome, self.limits, self.now_arg(),
                                   r.customer_id)

        status, reason = await self.with_lead(team, lead_id, self.scripts.close_lead, build)
        return ActionResult(lead_id, status == "ok", Reason(reason) if reason else None)

    async def followup(self, team: str, rep: str, lead_id: str, note: str) -> ActionResult:
        call = keys.followup_call(team, rep, lead_id, note, self.limits, self.now_arg())
        status, reason, deadline = await self.run(self.scripts.followup_lead, call)
        return ActionResult(lead_id, status == "ok", Reason(reason) if reason else None,
                            deadline_ms=int(deadline) or None)

    async def settle(self, team: str, lead_id: str) -> Settlement:
        """Settle a lead's window if it is due; re-reads the candidates if they changed."""
        for _ in range(STALE_RETRIES):
            async with self.pipeline() as pipe:
                pipe.hgetall(keys.candidates(team, lead_id))
                pipe.hget(keys.lead(team, lead_id), "customer_id")
                raw, customer = await pipe.execute()
            reps = sorted(rep for rep, entry in raw.items() if '"result"' not in entry)
            call = keys.settle_call(team, lead_id, reps, self.limits, self.now_arg(),
                                    customer or "")
            status, detail, *rest = await self.run(self.scripts.settle_window, call)
            if status != "stale":
                results = (json.loads(rest[0]) or {}) if rest else {}
                return Settlement(lead_id, status, detail, results)
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
