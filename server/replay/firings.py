"""When the recorded servers fired each timer, and so where a replay fires it among the inputs.

A server fires timers by polling the timer set: each poll runs every timer then due, in the
set's order (due time, then member). Every timer that decided something wrote an audit entry,
so the record shows when it fired. A timer that decided nothing left no entry; the replay
fires it at its due time, but — as a poll would — never before a timer due ahead of it that
the record shows firing later (two offers due when a window settles: the settlement first).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from server.contracts.timer_members import TimerKind, TimerMemberError, parse

MAX_LAG_MS = 10_000  # a recorded timer firing this long after its due time still matches it
NEVER = 2**62
# Where a firing or an input comes in the replay: (ms, the record's position, 0 for a recorded
# entry or 1 for a timer fired after the recorded entry at that position)
Key = tuple[int, int, int]
Fired = dict[tuple[str, TimerKind], list[tuple[int, int]]]


class Firings:
    """Each timer's place in the replay, from its recorded firings (consumed as they fire)."""

    def __init__(self, fired: Fired, seeds: dict[int, str]) -> None:
        self.fired, self.seeds = fired, seeds
        # past this a timer the record does not show firing may not have fired by its end
        self.unrecorded_until = NEVER

    def order(self, timers: Iterable[tuple[str, int]]) -> list[tuple[Key, str, int]]:
        """(key, member, due) of each timer, given in the timer set's order; a timer that
        the record does not show firing and that may not have fired by its end is left out."""
        found: list[tuple[Key, str, int]] = []
        latest: Key = (-1, -1, 0)  # the latest firing of a timer due ahead of this one
        for member, due in timers:
            recorded = self.recorded(member, due)
            if recorded is not None:
                key: Key = (*recorded, 0)
            elif due > self.unrecorded_until:
                continue
            else:
                key = max((due, -1, 1), (latest[0], latest[1], 1))
            latest = max(latest, key)
            found.append((key, member, due))
        return found

    def recorded(self, member: str, due: int) -> tuple[int, int] | None:
        """The (ts, position) of the timer's first recorded firing at or after its due time
        (within MAX_LAG_MS), if any."""
        kind = timer_kind(member)
        for at in self.fired.get(kind, ()) if kind else ():
            if due <= at[0] <= due + MAX_LAG_MS:
                return at
        return None

    def consume(self, member: str, key: Key) -> str:
        """The timer fires at `key`: that recorded firing is used up. Returns the seed its
        recorded draw used ("" for none)."""
        kind = timer_kind(member)
        if not (kind and key[2] == 0 and key[:2] in self.fired.get(kind, ())):
            return ""
        self.fired[kind].remove(key[:2])
        return self.seeds.get(key[1], "")


@functools.lru_cache(maxsize=65_536)
def timer_kind(member: str) -> tuple[str, TimerKind] | None:
    """(lead id, kind) of a timer member; None outside the grammar."""
    try:
        timer = parse(member)
    except TimerMemberError:
        return None
    return timer.lead_id, timer.kind
