"""What a connecting rep is owed: their welcome state, the open pool, or the entries they missed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server import protocol
from server.fanout.deliveries import Delivery, deliveries
from server.fanout.hub import Hub, seq_key
from server.floor.arbiter import Arbiter, member_version
from server.floor.pool import PoolLead, seen_by
from server.floor.roster import Member
from server.protocol import Frame
from server.shifts import intervals

PAGE = 1000


@dataclass(frozen=True, slots=True)
class Missed:
    """Entries after a resume point, and whether some were trimmed before they could be sent."""

    entries: list[tuple[str, list[Delivery]]] = field(default_factory=list)
    gap: bool = False
    first_available: str | None = None


async def quota(arbiter: Arbiter, member: Member) -> tuple[dict[str, Any], dict[str, Any],
                                                             int]:
    """The rep's stored state, its quota use today (as welcome shows it), and Redis time."""
    state = await arbiter.rep_state(member.id)
    fields = state.get("state", {})
    now_ms = await arbiter.now_ms()
    day = await arbiter.local_day(member.team, now_ms)
    used = {
        "max_open": member.limits["max_open"], "open": len(state.get("held", [])),
        "max_daily": member.limits["max_daily"], "day": day,
        "today": int(fields.get("day_count", 0)) if fields.get("day") == day else 0,
    }
    return state, used, now_ms


async def welcome(arbiter: Arbiter, member: Member) -> Frame:
    """The welcome frame: identity, Redis time, quota use and cooldown."""
    state, used, now_ms = await quota(arbiter, member)
    fields = state.get("state", {})
    cooldown = int(fields.get("cooldown_until_ms", 0)) or None
    frame = protocol.welcome(member.id, member.team, now_ms, used, cooldown,
                             arbiter.roster.versions.get(member.team, 0))
    # added fields (v1 allows them): what a console shows before any other frame arrives
    frame.update(held=list(state.get("held", [])), paused=fields.get("paused") == "1",
                 timezone=member.timezone, shift=shift_state(member, now_ms))
    return frame


def shift_state(member: Member, now_ms: int) -> dict[str, Any] | None:
    """On shift or not, and until when (the current shift's end or the next one's start);
    None when the rep has no shifts (always on)."""
    specs = tuple(member.limits.get("shifts") or ())
    if not specs:
        return None
    spans = intervals(specs, member.timezone, now_ms, 1, 8)
    current = next((end for start, end in spans if start <= now_ms < end), None)
    if current is not None:
        return {"on": True, "until_ms": current}
    upcoming = next((start for start, _ in spans if start > now_ms), None)
    return {"on": False, "until_ms": upcoming}


async def missed(arbiter: Arbiter, team: str, resume: str) -> Missed:
    """Entries after `resume`, oldest first; a gap when `resume` is no longer in the stream."""
    backlog = await arbiter.events_backlog(team, resume, PAGE)
    first = backlog.first
    gap = first is not None and not backlog.resume_kept and seq_key(resume) < seq_key(first)
    entries = [(seq, items) for seq, f in backlog.entries if (items := deliveries(f, seq))]
    return Missed(entries, gap, first)


async def snapshot(arbiter: Arbiter, member: Member, bound: int) -> list[Frame]:
    """The open leads `member` may see, newest first, up to `bound`: `lead` frames marked
    `snapshot`, with `opens_ms` when the lead is not yet offered to the rep's tier. None for
    a paused or off-shift rep (live offers skip them too)."""
    now_ms = await arbiter.now_ms()
    state = await arbiter.rep_state(member.id)
    if state.get("state", {}).get("paused") == "1" or not member.on_shift(now_ms):
        return []
    opening: dict[str, int] = {}

    def keep(lead: PoolLead) -> bool:
        opens = seen_by(member, lead, now_ms)
        if opens is not None:
            opening[lead.lead_id] = opens
        return opens is not None

    leads = await arbiter.open_leads(member.team, keep, bound)
    frames = []
    for lead in leads:
        frame = protocol.lead(lead.payload())
        frame["snapshot"] = True
        if opening[lead.lead_id] > now_ms:
            frame["opens_ms"] = opening[lead.lead_id]
        frames.append(frame)
    return frames


async def tell_limits(arbiter: Arbiter, hub: Hub) -> int:
    """Send a `limits` frame to each connected rep whose effective limits differ from those
    it was last told (in welcome or an earlier limits frame); returns how many were told."""
    told = 0
    for conn in list(hub.connections()):
        member = arbiter.member(conn.rep)
        known = hub.limits.get(conn)
        if member is None or known is None or dict(member.limits) == known:
            continue
        hub.limits[conn] = dict(member.limits)
        state, used, _ = await quota(arbiter, member)
        cooldown = int(state.get("state", {}).get("cooldown_until_ms", 0)) or None
        conn.send_frame(protocol.limits(used, cooldown, member_version(arbiter, member),
                                        member.limits))
        told += 1
    return told
