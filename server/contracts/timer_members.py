"""Timer members of a team's timer set: `<kind>:<lead id>`, and `stage:<lead id>#<n>`.

Built by the Lua scripts (`lua/`) and here; `tests/test_timer_members.py` holds the two to
one grammar.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TimerKind(StrEnum):
    """What a due timer does when it fires."""

    SETTLE = "settle"  # a claim window closes
    DEADLINE = "deadline"  # a follow-up deadline passed: recycle the lead
    WARN = "warn"  # the follow-up deadline is near: warn the holder
    OPEN = "open"  # the owner window ends: offer the lead to everyone else
    STAGE = "stage"  # a release stage opens (`stage:<id>#<n>`)
    AUTO = "auto"  # nobody claimed in time: assign by policy
    RESUME = "resume"  # a complaint penalty's pause ends (`resume:<rep id>`)


class TimerMemberError(ValueError):
    """A timer member that does not follow the grammar."""


@dataclass(frozen=True, slots=True)
class TimerMember:
    """One timer: its kind, its lead, and for a release stage its number (1-based)."""

    kind: TimerKind
    lead_id: str
    stage: int | None = None

    def __str__(self) -> str:
        base = f"{self.kind}:{self.lead_id}"
        return base if self.stage is None else f"{base}#{self.stage}"


def member(kind: TimerKind, lead_id: str, stage: int | None = None) -> str:
    """The member string of a timer; a stage number exactly for `stage` timers."""
    if (stage is None) != (kind is not TimerKind.STAGE):
        raise TimerMemberError(f"a {kind} timer {'takes no' if stage else 'needs a'} stage")
    return str(TimerMember(kind, lead_id, stage))


def parse(text: str) -> TimerMember:
    """A member string back as a TimerMember; TimerMemberError when it is not one."""
    head, sep, lead_id = text.partition(":")
    if not sep or not lead_id or head not in TimerKind.__members__.values():
        raise TimerMemberError(f"not a timer member: {text!r}")
    kind = TimerKind(head)
    if kind is not TimerKind.STAGE:
        return TimerMember(kind, lead_id)
    lead_id, sep, number = lead_id.rpartition("#")
    if not sep or not lead_id or not number.isdigit():
        raise TimerMemberError(f"a stage timer is stage:<lead id>#<n>, not {text!r}")
    return TimerMember(kind, lead_id, int(number))
