"""Runs of recorded inputs an exact replay sends in one round trip, as one after another would.

The store sends the scripts called in one event-loop tick as one pipeline, in call order,
each atomic. So inputs started together in order, each with its own clock, decide exactly as
if awaited one by one — as long as no timer was due between them, and each reaches its script
without a read (a read would go ahead of the pipeline). A close or a release never adds a
timer, nor does a claim lost or rejected or a follow-up refused; so a run is inputs before the
next possible timer firing, each of those as the record shows it but the last (which may be a
publish, a won claim, a follow-up). When one of them did add a timer (the replay already
differs from the record) or an input but the last read something, the run was wrong to share
a round trip: Diverged, and the replay runs again one input at a time.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from server.contracts.audit_fields import AuditAction, AuditField
from server.contracts.reasons import Outcome
from server.replay.firings import Key
from server.replay.sandbox import Clock
from server.store.replay_store import ReplayStore

A = AuditAction
MAX_RUN = 128  # under the store's batch size: one pipeline, one connection, in order
NO_TIMER = frozenset({Outcome.LOST.value, Outcome.REJECTED.value})
# inputs that reach their script with no await before it (the refs guessed: see guesses)
SHAREABLE = frozenset({A.CLAIM, A.PUBLISH, A.FOLLOWUP, A.CLOSE, A.RELEASE})
Fields = dict[str, str]
# runs one input; True when it may have added a timer
Apply = Callable[[Fields], Awaitable[bool]]


class Queued(Protocol):
    """An input in the replay's queue."""

    ts: int
    pos: int
    fields: Fields

    def __lt__(self, other: Any, /) -> bool: ...


Q = TypeVar("Q", bound=Queued)


class Diverged(Exception):
    """An input of a shared run did not decide as recorded: replay one input at a time."""


def adds_no_timer(f: Fields) -> bool:
    """Whether the recorded input added no timer."""
    action = f.get(AuditField.ACTION)
    return action in (A.CLOSE, A.RELEASE) or (
        action in (A.CLAIM, A.FOLLOWUP) and f.get(AuditField.RESULT) in NO_TIMER)


def take_run(queue: list[Q], quiet_until: Key | None,
             same_rules: Callable[[Fields], bool]) -> list[Q]:
    """Pop the run of inputs at the head of the `queue` heap that may share a round trip;
    [] when the head cannot start one (the caller replays it alone)."""
    found: list[Q] = []
    while queue and len(found) < MAX_RUN and quiet_until is not None:
        head = queue[0]
        if (head.fields.get(AuditField.ACTION) not in SHAREABLE
                or not same_rules(head.fields) or (head.ts, head.pos, 0) >= quiet_until):
            break
        found.append(heapq.heappop(queue))
        if not adds_no_timer(head.fields):
            break  # it may add a timer: the run ends with it
    return found


async def run_inputs(store: ReplayStore, clock: Clock, run: list[Q], apply: Apply,
                     before: Awaitable[None] | None = None) -> bool:
    """The run's inputs in one round trip, in order, each at its recorded time (each
    reaches the store with no await before it), after the firing `before` if given, a look
    at the timers riding with the last only. Returns whether the last may have added a timer;
    Diverged when an input but the last may have, or when one read something first."""
    async def at(ts: int, fields: Fields, last: bool) -> bool:
        clock.now_ms = max(clock.now_ms, ts)  # read by the store as it builds the call
        store.look_team = team if last else None
        return await apply(fields)

    async def first(firing: Awaitable[None]) -> bool:
        await firing  # a timer firing that adds no timer (see due_timers)
        return False

    team, reads = store.look_team, store.reads
    try:
        added = await asyncio.gather(*([first(before)] if before is not None else []),
                                     *(at(item.ts, item.fields, item is run[-1])
                                       for item in run))
    finally:
        store.look_team = team
    if any(added[:-1]) or (len(added) > 1 and store.reads != reads):
        raise Diverged
    return added[-1]
