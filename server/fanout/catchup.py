"""What a connecting rep is owed: their welcome state and the stream entries they missed."""

from __future__ import annotations

from dataclasses import dataclass, field

from server import protocol
from server.fanout.deliveries import Delivery, deliveries
from server.fanout.hub import seq_key
from server.floor.arbiter import Arbiter
from server.floor.roster import Member
from server.protocol import Frame

PAGE = 1000


@dataclass(frozen=True, slots=True)
class Missed:
    """Entries after a resume point, and whether some were trimmed before they could be sent."""

    entries: list[tuple[str, list[Delivery]]] = field(default_factory=list)
    gap: bool = False
    first_available: str | None = None


async def welcome(arbiter: Arbiter, member: Member) -> Frame:
    """The welcome frame: identity, Redis time, quota use and cooldown."""
    state = await arbiter.rep_state(member.id)
    fields = state.get("state", {})
    now_ms = await arbiter.now_ms()
    day = await arbiter.local_day(member.team, now_ms)
    quota = {
        "max_open": member.limits["max_open"], "open": len(state.get("held", [])),
        "max_daily": member.limits["max_daily"], "day": day,
        "today": int(fields.get("day_count", 0)) if fields.get("day") == day else 0,
    }
    cooldown = int(fields.get("cooldown_until_ms", 0)) or None
    return protocol.welcome(member.id, member.team, now_ms, quota, cooldown,
                            arbiter.roster.versions.get(member.team, 0))


async def missed(arbiter: Arbiter, team: str, resume: str) -> Missed:
    """Entries after `resume`, oldest first; a gap when `resume` is no longer in the stream."""
    backlog = await arbiter.events_backlog(team, resume, PAGE)
    first = backlog.first
    gap = first is not None and not backlog.resume_kept and seq_key(resume) < seq_key(first)
    entries = [(seq, items) for seq, f in backlog.entries if (items := deliveries(f, seq))]
    return Missed(entries, gap, first)
