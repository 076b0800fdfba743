"""The rep terminal's words: one line per server frame, times shown on the rep's own clock."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from server.protocol import Frame

REFUSALS = {  # why a release, close or follow-up was refused
    "not_found": "no such lead",
    "closed": "the lead is closed or withdrawn",
    "not_holder": "you do not hold it",
}
REVOCATIONS = {
    "followup": "no follow-up within the deadline: it went back to the pool and you are "
                "penalised (a longer cooldown)",
    "max_hold": "held too long since the last follow-up: it went back to the pool and you "
                "are penalised (a longer cooldown)",
    "reassigned": "a manager gave it to another rep",
    "withdrawn": "a manager withdrew it",
}
ASSIGNMENTS = {
    "duplicate": "撞单: same customer as a lead you hold",
    "auto_assign": "fallback assignment: nobody claimed it in time",
}
DEADLINES = {"followup": "first follow-up due", "max_hold": "next follow-up due"}


@dataclass
class Clock:
    """The server's clock as seen from here: `welcome.server_time_ms` corrects our skew."""

    offset_ms: int = 0

    def sync(self, server_ms: int) -> None:
        self.offset_ms = server_ms - int(time.time() * 1000)

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def at(self, server_ms: int) -> str:
        """A server time as the local wall clock shows it, `14:05:09`."""
        return time.strftime("%H:%M:%S", time.localtime((server_ms - self.offset_ms) / 1000))

    def due(self, server_ms: int) -> str:
        """`14:05:09 (in 9 min 58 s)`, or `(overdue)` once past."""
        left = server_ms - self.now_ms()
        return f"{self.at(server_ms)} ({'in ' + span(left) if left > 0 else 'overdue'})"


def span(ms: int) -> str:
    """A duration for people: `850 ms`, `42 s`, `9 min 58 s`, `2 h 05 min`, `3 d 4 h`."""
    if ms < 1000:
        return f"{max(ms, 0)} ms"
    s = ms // 1000
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def lead(f: Frame) -> str:
    """`lead L1  value=5000  region=beijing  skills=enterprise  priority=3` and extras."""
    skills = ",".join(str(s) for s in f.get("skills") or []) or "-"
    line = (f"lead {f['lead_id']}  value={number(f.get('value'))}  region={f.get('region') or '-'}"
            f"  skills={skills}  priority={f.get('priority')}")
    if f.get("customer_id"):
        line += f"  customer={f['customer_id']}"
    if f.get("mode") == "window":
        line += f"  window={f.get('window_ms')} ms ({f.get('window_policy')})"
    return line


def welcome(f: Frame, clock: Clock) -> str:
    q = f.get("quota") or {}
    line = (f"connected as {f.get('rep')} (team {f.get('team')}): {q.get('open')}/"
            f"{q.get('max_open')} open, {q.get('today')}/{q.get('max_daily')} claimed today")
    cooldown = f.get("cooldown_until_ms")
    if isinstance(cooldown, int) and cooldown > int(f.get("server_time_ms") or 0):
        line += f"; cooling down until {clock.due(cooldown)}"
    if f.get("paused"):
        line += "; paused (`resume` to get offers)"
    return line


def claim(f: Frame) -> str:
    """A claim_result as `claim L1: won`, with the reason and retry time when rejected."""
    line = f"claim {f.get('lead_id')}: {f.get('result')}"
    if "reason" in f:
        line += f" ({f['reason']})"
    if f.get("result") == "pending":
        return line + f": you are a candidate; the window closes in {f.get('retry_after_ms')} ms"
    if "retry_after_ms" in f:
        line += f", retry in {f['retry_after_ms']} ms"
    return line


def action(f: Frame, clock: Clock, outcome: str = "") -> str:
    """The answer to release, close, follow-up, pause or resume, in words."""
    name, lead_id = f.get("action"), f.get("lead_id")
    if not f.get("ok"):
        reason = str(f.get("reason") or "")
        why = f"{reason} ({REFUSALS[reason]})" if reason in REFUSALS else reason or "refused"
        return f"{name} {lead_id}: refused: {why}".replace(" : ", ": ")
    if name == "release":
        return f"released {lead_id}: it is back in the pool"
    if name == "close":
        return f"closed {lead_id} as {outcome or 'done'}: the slot is free"
    if name == "followup":
        deadline = f.get("deadline_ms")
        nxt = f"next follow-up due {clock.due(deadline)}" if isinstance(deadline, int) \
            else "no further deadline"
        return f"follow-up on {lead_id} recorded; {nxt}"
    return f"{name}: ok"


def assigned(f: Frame) -> str:
    by = str(f.get("by") or "")
    who = f"manager {by.removeprefix('manager:')}" if by.startswith("manager:") else "the system"
    reason = str(f.get("reason") or "")
    why = ASSIGNMENTS.get(reason, repr(reason) if reason else "no reason given")
    body = f.get("lead") or {}
    return (f"assigned {f.get('lead_id')} to you by {who} ({why}); value="
            f"{number(body.get('value'))} region={body.get('region') or '-'}")


def revoked(f: Frame) -> str:
    reason = str(f.get("reason") or "")
    return f"revoked {f.get('lead_id')}: {REVOCATIONS.get(reason, reason or 'no reason given')}"


def warning(f: Frame, clock: Clock) -> str:
    kind = str(f.get("kind") or "")
    due = DEADLINES.get(kind, f"{kind} deadline")
    deadline = f.get("deadline_ms")
    at = clock.due(deadline) if isinstance(deadline, int) else "soon"
    lead_id = f.get("lead_id")
    return (f"warning {lead_id}: {due} at {at}, else it is recycled; "
            f"`followup {lead_id} NOTE` (or close or release it)")


def paused(f: Frame) -> str:
    if f.get("paused"):
        return "paused: no offers, and claims are rejected (not_open); `resume` to come back"
    return "unpaused: back on the floor, offers follow"


def error(f: Frame) -> str:
    line = f"error {f.get('code')}: {f.get('message')}"
    return line + " (temporary: retry later)" if f.get("temporary") else line


def other(f: Frame) -> str:
    """A frame this client does not know yet (the contract may add types): shown raw."""
    rest = {k: v for k, v in f.items() if k != "type"}
    return f"{f['type']}: {json.dumps(rest, ensure_ascii=False, separators=(',', ':'))}"


_LINES: dict[str, Callable[[Frame, Clock], str]] = {
    "welcome": welcome,
    "lead": lambda f, _: lead(f),
    "lead_taken": lambda f, _: f"taken {f.get('lead_id')}",
    "claim_result": lambda f, _: claim(f),
    "action_result": action,
    "assigned": lambda f, _: assigned(f),
    "revoked": lambda f, _: revoked(f),
    "warning": warning,
    "paused": lambda f, _: paused(f),
    "tier": lambda f, _: (f"tier: {f.get('prev') or 'none'} -> {f.get('tier') or 'none'} "
                          f"({f.get('reason')}); your limits follow the new tier"),
    "error": lambda f, _: error(f),
    "gap": lambda f, _: "gap: some missed frames were trimmed; leads shown may be stale",
    "resumed": lambda f, _: f"resumed: {f.get('count')} missed frame(s) replayed",
}


def describe(frame: Frame, clock: Clock | None = None) -> str:
    """One human line for any server frame."""
    line = _LINES.get(frame["type"])
    return line(frame, clock or Clock()) if line else other(frame)
