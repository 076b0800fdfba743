"""Recorded decisions against replayed ones: how many match, and each that does not."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from server.replay.record import Decision, Fields, decisions


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A decision the replay made differently (None: it was not made on that side)."""

    recorded: Decision | None
    replayed: Decision | None

    @property
    def lead(self) -> str:
        return (self.recorded or self.replayed or Decision("", "", "", "", "")).lead

    @property
    def rep(self) -> str:
        return (self.recorded or self.replayed or Decision("", "", "", "", "")).rep

    def as_json(self) -> dict[str, Any]:
        def side(d: Decision | None) -> dict[str, str] | None:
            return None if d is None else {"action": d.action, "rep": d.rep,
                                           "result": d.result, "reason": d.reason}
        return {"lead": self.lead, "rep": self.rep, "recorded": side(self.recorded),
                "replayed": side(self.replayed)}

    def line(self) -> str:
        def side(d: Decision | None) -> str:
            if d is None:
                return "(none)"
            who = f" {d.rep}" if d.rep else ""
            return f"{d.action}{who} {d.result or '-'}" + (f" ({d.reason})" if d.reason else "")
        return f"lead {self.lead or '-'} rep {self.rep or '-'}: recorded {side(self.recorded)}" \
               f", replayed {side(self.replayed)}"


@dataclass(frozen=True, slots=True)
class Comparison:
    """Decisions matched out of the recorded total, and every mismatch in recorded order
    (decisions only the replay made come last)."""

    matched: int
    total: int
    mismatches: list[Mismatch]

    def as_json(self) -> dict[str, Any]:
        return {"matched": self.matched, "total": self.total,
                "mismatches": [m.as_json() for m in self.mismatches]}

    def text(self) -> str:
        share = 100 * self.matched / self.total if self.total else 100.0
        lines = [f"decisions matched: {self.matched} / {self.total} ({share:.2f} %)"]
        lines += ["  " + m.line() for m in self.mismatches]
        return "\n".join(lines)


def compare(recorded: Iterable[tuple[str, Fields]],
            replayed: Iterable[tuple[str, Fields]]) -> Comparison:
    """Match every recorded decision with the replay's decision on the same thing."""
    mine, theirs = decisions(recorded), decisions(replayed)
    mismatches = [Mismatch(d, theirs.get(key)) for key, d in mine.items() if theirs.get(key) != d]
    mismatches += [Mismatch(None, d) for key, d in theirs.items() if key not in mine]
    matched = sum(1 for key, d in mine.items() if theirs.get(key) == d)
    return Comparison(matched, len(mine), mismatches)
