"""The store's hold on Redis: the private client, the clock, and fault-wrapped calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

from redis.asyncio import RedisCluster
from redis.commands.core import AsyncScript

from server.contracts.results import LeadRefs
from server.contracts.statuses import Status
from server.store import keys
from server.store.backend import Client
from server.store.batch import Batcher, Then
from server.store.claim_keys import ClaimCalls
from server.store.faults import StoreError, wrapped
from server.store.keys import Retention, ScriptCall
from server.store.scripts import Scripts, register

log = logging.getLogger(__name__)
CUSTOMER_CACHE = 50_000
STALE_RETRIES = 3
# The time the scripts take as "now", or None for Redis TIME (tests set one)
NowOverride = Callable[[], int | None]
# The seed a window or auto-assign draw uses for (team, lead id), or '' for one from Redis TIME
# (a replay passes the recorded seeds)
SeedOverride = Callable[[str, str], str]


def _redis_time() -> None:
    return None


def _fresh_seed(_team: str, _lead_id: str) -> str:
    return ""


class Session:
    """One Redis client, the retention settings and the clock every store module shares."""

    def __init__(self, redis: Client, retention: Retention,
                 now_override: NowOverride | None = None,
                 seed_override: SeedOverride | None = None) -> None:
        self._redis = redis
        self.retention = retention
        self._now_override = now_override or _redis_time
        self.seed_arg: SeedOverride = seed_override or _fresh_seed
        self._scripts: Scripts = register(redis)
        self._batcher = Batcher(redis)
        self._claim_calls = ClaimCalls(retention)
        self._customers: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._later: set[asyncio.Task[Any]] = set()

    async def aclose(self) -> None:
        """Close the client and its connections."""
        await self._batcher.aclose()
        await self._redis.aclose()

    def log_topology(self) -> None:
        """Log what the client talks to (never the URL: it may hold a password)."""
        if isinstance(self._redis, RedisCluster):
            log.info("Redis Cluster of %d primaries", len(self._redis.get_primaries()))

    def now_arg(self) -> str:
        """The clock override for ARGV[1], or '' for Redis TIME."""
        now = self._now_override()
        return "" if now is None else str(now)

    async def redis_time_ms(self) -> int:
        """Redis TIME in ms, whatever the scripts' clock says (stream ids are Redis time)."""
        seconds, micros = await self._call(self._redis.time())
        return int(seconds) * 1000 + int(micros) // 1000

    async def now_ms(self) -> int:
        """The scripts' "now": the override when set, else Redis time; never this host's."""
        now = self._now_override()
        return now if now is not None else await self.redis_time_ms()

    def _run(self, script: AsyncScript, call: ScriptCall,
             then: Then | None = None) -> asyncio.Future[Any]:
        """Run one script (batched with the others of this loop tick): its reply (or what
        `then` makes of it), or the fault as StoreError."""
        return self._batcher.submit(script, call, then)

    def _settle_later(self, future: asyncio.Future[Any], work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` as a task and give its outcome to `future` (a reply that needs more
        round trips than the one it came in)."""
        task = asyncio.get_running_loop().create_task(work)
        self._later.add(task)
        task.add_done_callback(partial(_settle, future))
        task.add_done_callback(self._later.discard)

    async def _call(self, awaitable: Awaitable[Any]) -> Any:
        """Await a plain Redis command, errors wrapped."""
        with wrapped():
            return await awaitable

    @contextlib.asynccontextmanager
    async def _pipeline(self) -> AsyncIterator[Any]:
        """A non-transactional pipeline (on a cluster, one per node), errors wrapped: a
        cluster client may fail in setting it up, before `execute`."""
        with wrapped():
            async with self._redis.pipeline(transaction=False) as pipe:
                yield pipe

    async def lead_refs(self, team: str, lead_id: str) -> LeadRefs:
        """A lead's current holder and customer id (for the KEYS of scripts that need them)."""
        holder, customer = await self._call(
            self._redis.hmget(keys.lead(team, lead_id), "holder", "customer_id"))
        refs = LeadRefs(holder or "", customer or "")
        self._remember_customer(team, lead_id, refs.customer_id)
        return refs

    def _remember_customer(self, team: str, lead_id: str, customer_id: str) -> None:
        """Cache a lead's customer id so a claim needs no extra read (bounded LRU)."""
        if not customer_id:  # "" is what a miss answers: keep nothing (unknown leads, too)
            self._customers.pop((team, lead_id), None)
            return
        self._customers[(team, lead_id)] = customer_id
        self._customers.move_to_end((team, lead_id))
        while len(self._customers) > CUSTOMER_CACHE:
            self._customers.popitem(last=False)

    async def _with_lead(self, team: str, lead_id: str, script: AsyncScript,
                         build: Callable[[LeadRefs], ScriptCall],
                         refs: LeadRefs | None = None) -> Any:
        """Run a script built from the lead's refs; re-read them while it answers 'stale'."""
        refs = refs or await self.lead_refs(team, lead_id)
        for _ in range(STALE_RETRIES):
            reply = await self._run(script, build(refs))
            if reply[0] != Status.STALE:
                return reply
            refs = await self.lead_refs(team, lead_id)
        raise StoreError(f"lead {lead_id} kept changing; try again", temporary=True)


def _settle(future: asyncio.Future[Any], task: asyncio.Task[Any]) -> None:
    if future.done():
        return
    if task.cancelled():
        future.cancel()
    elif (exc := task.exception()) is not None:
        future.set_exception(exc)
    else:
        future.set_result(task.result())
