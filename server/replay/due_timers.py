"""A replay's timers: each fired at its place among the inputs (see firings), looked up lazily."""

from __future__ import annotations

from operator import itemgetter

from server.contracts.timer_members import TimerKind
from server.floor.timers import Timers
from server.replay.firings import NEVER, Firings, Key, timer_kind
from server.replay.guesses import Guesses
from server.replay.sandbox import Seeds
from server.store.replay_store import ReplayStore

SCHEDULE_PAGE = 16
# timers whose scripts (fire_deadline.lua, offer_lead.lua) never add a timer
ADD_NO_TIMER = frozenset({TimerKind.WARN, TimerKind.DEADLINE, TimerKind.STAGE, TimerKind.OPEN})
NO_REFS = frozenset({TimerKind.STAGE, TimerKind.OPEN})  # offer_lead.lua reads no refs


class DueTimers:
    """Fires the team's timers whose place comes before a given input."""

    def __init__(self, store: ReplayStore, timers: Timers, team: str, seeds: Seeds,
                 firings: Firings, guesses: Guesses) -> None:
        self.store, self.timers, self.team, self.seeds = store, timers, team, seeds
        self.firings, self.guesses = firings, guesses
        # no timer fires before this key unless a script adds one (None: look again)
        self.quiet_until: Key | None = None
        self.deferred: tuple[Key, str, int] | None = None

    async def fire_until(self, until: Key, only: TimerKind | None = None,
                         defer: bool = False) -> None:
        """Fire every timer (of one kind, if given) whose place comes before `until`, in
        order. Skipped while the last look showed nothing due that soon and nothing since
        could have added a timer. With `defer`, the next firing, if it adds no timer and
        needs no read, is left in `deferred` to go first in the next shared run (see
        shared_runs), the places of the timers left bounding that run."""
        await self.flush()
        if only is None and self.quiet_until is not None and until < self.quiet_until:
            return
        done: set[tuple[str, int]] = set()
        while True:
            timers, unseen = await self._schedule(until[0])
            found = [(key, member, due) for key, member, due in self.firings.order(timers)
                     if (member, due) not in done and _of(member, only)]
            best = min(found, key=itemgetter(0), default=None)  # the first of equal keys
            if best is None or best[0] >= until:
                self.quiet_until = None if only else min([unseen, *(k for k, _, _ in found)])
                return
            # (a timer placed after `best` only because `best` fires first stays placed
            # after it: no input comes between them)
            rest = min([unseen, *(t[0] for t in found if t is not best)])
            done.add(best[1:])
            if defer and only is None and self._deferrable(best[1], best[0]):
                self.deferred, self.quiet_until = best, rest
                return
            await self.fire(best)

    def _deferrable(self, member: str, key: Key) -> bool:
        kind = timer_kind(member)
        return (kind is not None and kind[1] in ADD_NO_TIMER
                and (kind[1] in NO_REFS or self.guesses.for_timer(member, key) is not None))

    async def flush(self) -> None:
        """Fire the deferred firing alone (no shared run took it)."""
        if self.deferred is not None:
            await self.fire(self.take_deferred())

    def take_deferred(self) -> tuple[Key, str, int]:
        found, self.deferred = self.deferred, None
        assert found is not None
        return found

    async def fire(self, timer: tuple[Key, str, int], look: bool = True) -> None:
        """Fire one timer at its place (its script reaches the store with no await before
        it when its refs are guessed); a look at the timers rides with it if `look`."""
        key, member, _ = timer
        self.seeds.firing = self.firings.consume(member, key)
        self.seeds.clock.now_ms = max(self.seeds.clock.now_ms, key[0])
        self.store.look_team = self.team if look else None
        self.store.assume(self.guesses.for_timer(member, key))
        try:
            await self.timers.fire_member(self.team, member)
        finally:
            self.seeds.firing = ""

    async def _schedule(self, ts: int) -> tuple[list[tuple[str, int]], Key]:
        """The earliest timers (every one due by `ts` if there are more), and the earliest
        place any timer not among them can have."""
        timers = await self.store.schedule()  # read with the last script, if it was
        if timers is None:
            timers = await self.store.timer_schedule(self.team, NEVER, SCHEDULE_PAGE)
        if len(timers) < SCHEDULE_PAGE:
            return timers, (NEVER, 0, 0)
        if timers[-1][1] > ts:
            return timers, (timers[-1][1], -1, 0)
        return await self.store.timer_schedule(self.team, ts, 10**7), (ts + 1, -1, 0)


def _of(member: str, only: TimerKind | None) -> bool:
    """Whether the timer is of kind `only` (any kind when None)."""
    if only is None:
        return True
    kind = timer_kind(member)
    return kind is not None and kind[1] is only
