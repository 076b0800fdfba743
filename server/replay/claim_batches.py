"""Runs of recorded claims an exact replay sends in one round trip, as one after another would.

The store sends the scripts called in one event-loop tick as one pipeline, in call order,
each atomic. So claims started together in order, each with its own clock, decide exactly as
if awaited one by one — as long as no timer was due between them. A claim the record shows
lost or rejected added no timer; so a run is claims before the next possible timer firing,
each recorded lost or rejected but the last. When one of them is not (the replay already
differs from the record), the run was wrong to share a round trip: Diverged, and the replay
runs again one input at a time.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from server.contracts.audit_fields import AuditAction, AuditField
from server.contracts.reasons import Outcome
from server.contracts.results import ClaimResult
from server.floor.arbiter import Arbiter
from server.replay.firings import Key
from server.replay.sandbox import Clock

MAX_RUN = 128  # under the store's batch size: one pipeline, one connection, in order
NO_TIMER = frozenset({Outcome.LOST.value, Outcome.REJECTED.value})
Fields = dict[str, str]


class Queued(Protocol):
    """An input in the replay's queue."""

    ts: int
    pos: int
    fields: Fields

    def __lt__(self, other: Any, /) -> bool: ...


Q = TypeVar("Q", bound=Queued)


class Diverged(Exception):
    """A claim of a shared run did not decide as recorded: replay one input at a time."""


def take_run(queue: list[Q], quiet_until: Key | None,
             same_rules: Callable[[Fields], bool]) -> list[Q]:
    """Pop the run of claims at the head of the `queue` heap that may share a round trip;
    [] when the head cannot start one (the caller replays it alone)."""
    found: list[Q] = []
    while queue and len(found) < MAX_RUN and quiet_until is not None:
        head = queue[0]
        if (head.fields.get(AuditField.ACTION) != AuditAction.CLAIM
                or not same_rules(head.fields) or (head.ts, head.pos, 0) >= quiet_until):
            break
        found.append(heapq.heappop(queue))
        if head.fields.get(AuditField.RESULT) not in NO_TIMER:
            break  # it may add a timer: the run ends with it
    return found


async def run_claims(arbiter: Arbiter, clock: Clock, run: list[Q],
                     look: Callable[[bool], None]) -> list[ClaimResult]:
    """The run's claims in one round trip, in order, each at its recorded time, a look at
    the timers riding with the last only (`look`); Diverged when a claim but the last did
    not end lost or rejected as recorded."""
    async def at(ts: int, fields: Fields, last: bool) -> ClaimResult:
        clock.now_ms = max(clock.now_ms, ts)  # read by the store as it builds the call
        look(last)  # (the claim reaches the store with no await before it)
        return await arbiter.claim(fields.get(AuditField.REP, ""),
                                   fields.get(AuditField.LEAD, ""),
                                   fields.get(AuditField.REQ, ""))

    done = await asyncio.gather(*(at(item.ts, item.fields, item is run[-1]) for item in run))
    if any(result.result not in (Outcome.LOST, Outcome.REJECTED) for result in done[:-1]):
        raise Diverged
    return done
