"""A replay's timers: each fired at its place among the inputs (see firings), looked up lazily."""

from __future__ import annotations

from server.contracts.timer_members import TimerKind
from server.floor.timers import Timers
from server.replay.firings import NEVER, Firings, Key, timer_kind
from server.replay.guesses import Guesses
from server.replay.sandbox import Seeds
from server.store.replay_store import ReplayStore

SCHEDULE_PAGE = 16


class DueTimers:
    """Fires the team's timers whose place comes before a given input."""

    def __init__(self, store: ReplayStore, timers: Timers, team: str, seeds: Seeds,
                 firings: Firings, guesses: Guesses) -> None:
        self.store, self.timers, self.team, self.seeds = store, timers, team, seeds
        self.firings, self.guesses = firings, guesses
        # no timer fires before this key unless a script adds one (None: look again)
        self.quiet_until: Key | None = None

    async def fire_until(self, until: Key, only: TimerKind | None = None) -> None:
        """Fire every timer (of one kind, if given) whose place comes before `until`, in
        order. Skipped while the last look showed nothing due that soon and nothing since
        could have added a timer."""
        if only is None and self.quiet_until is not None and until < self.quiet_until:
            return
        done: set[tuple[str, int]] = set()
        while True:
            timers, first = await self._schedule(until[0])
            best: tuple[Key, str, int] | None = None
            for key, member, due in self.firings.order(timers):
                kind = timer_kind(member)
                if (member, due) in done or (only is not None and (kind is None
                                                                   or kind[1] is not only)):
                    continue
                first = min(first, key)
                if key < until and (best is None or key < best[0]):
                    best = (key, member, due)
            if best is None:
                self.quiet_until = None if only else first
                return
            key, member, due = best
            done.add((member, due))
            self.seeds.firing = self.firings.consume(member, key)
            self.seeds.clock.now_ms = max(self.seeds.clock.now_ms, key[0])
            self.store.look_team = self.team  # the look after it rides with its scripts
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
