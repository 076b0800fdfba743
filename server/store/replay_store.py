"""The store a replay drives: a look at the timer set can ride in a script's round trip."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from redis.commands.core import AsyncScript

from server.contracts.results import LeadRefs
from server.store.batch import Then
from server.store.keys import Retention, ScriptCall
from server.store.replay_keys import schedule_call
from server.store.session import NowOverride, SeedOverride
from server.store.store import Store

Schedule = list[tuple[str, int]]


class ReplayStore(Store):
    """A Store that, while `look_team` is set, sends timer_schedule.lua right after every
    script, in the same pipeline: the answer is the timer set as that script left it, read
    without a round trip of its own (`schedule` gives it while no script ran since)."""

    look_team: str | None = None
    look_limit = 32
    _writes = 0
    _look: tuple[int, asyncio.Future[Any]] | None = None
    reads = 0  # plain reads sent (each goes ahead of the scripts pending in the batcher)
    _refs: tuple[str, str, str] | None = None  # (lead id, holder, customer) to assume next
    _customer_holder_guess: str | None = None  # what the next publish's holder read assumes

    @classmethod
    async def private(cls, url: str, retention: Retention, now: NowOverride,
                      seeds: SeedOverride, look_team: str, look_limit: int) -> ReplayStore:
        """A replay's store on its private Redis, the looks riding for `look_team`."""
        store = await cls.open(url, retention, now, seed_override=seeds)
        assert isinstance(store, ReplayStore)
        store.look_team, store.look_limit = look_team, look_limit
        return store

    def assume(self, refs: tuple[str, str, str] | None,
               customer_holder: str | None = None) -> None:
        """Guesses, from the record, for the next read of a lead's refs ((lead id, holder,
        customer id)) and of a publish's customer holder: answered without a round trip.
        Each script given refs checks them and answers stale when they are wrong, and the
        read that follows goes to Redis: a wrong guess costs a round trip, never a different
        decision. None: read."""
        self._refs, self._customer_holder_guess = refs, customer_holder

    async def lead_refs(self, team: str, lead_id: str) -> LeadRefs:
        guess, self._refs = self._refs, None
        if guess is None or guess[0] != lead_id:
            return await super().lead_refs(team, lead_id)
        return LeadRefs(guess[1], guess[2])

    async def _customer_holder(self, team: str, customer_id: str) -> str:
        guess, self._customer_holder_guess = self._customer_holder_guess, None
        return await super()._customer_holder(team, customer_id) if guess is None else guess

    async def _call(self, awaitable: Awaitable[Any]) -> Any:
        self.reads += 1
        return await super()._call(awaitable)

    @contextlib.asynccontextmanager
    async def _pipeline(self) -> AsyncIterator[Any]:
        self.reads += 1
        async with super()._pipeline() as pipe:
            yield pipe

    def _run(self, script: AsyncScript, call: ScriptCall,
             then: Then | None = None) -> asyncio.Future[Any]:
        self._writes += 1
        reply = self._batcher.submit(script, call, then)
        if self.look_team is not None:
            look = self._batcher.submit(self._scripts.timer_schedule,
                                        schedule_call(self.look_team, self.look_limit))
            look.add_done_callback(_retrieved)
            self._look = (self._writes, look)
        return reply

    async def schedule(self) -> Schedule | None:
        """(member, due ms) of the earliest `look_limit` timers as read right after the last
        script, or None when no look rode with it (read them with `timer_schedule`)."""
        if self._look is None or self._look[0] != self._writes:
            return None
        flat = await self._look[1]
        return [(flat[i], int(float(flat[i + 1]))) for i in range(0, len(flat), 2)]


def _retrieved(future: asyncio.Future[Any]) -> None:
    """A look nobody asked for may fail with its batch: not worth a warning."""
    if not future.cancelled():
        future.exception()
