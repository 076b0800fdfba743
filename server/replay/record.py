"""A recorded audit read back for replay: its inputs, its timer firings and its decisions."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from server.contracts.audit_fields import AuditAction, AuditField, AuditNote
from server.contracts.timer_members import TimerKind
from server.replay.outcome_inputs import OUTCOME_INPUTS, is_side_effect

A = AuditAction
# Inputs: what reps, integrations and managers asked for (replayed at their recorded time)
INPUTS = frozenset({A.PUBLISH, A.CLAIM, A.RELEASE, A.CLOSE, A.FOLLOWUP, A.DISPATCH,
                    A.REASSIGN, A.WITHDRAW, A.PAUSE, A.RESUME}) | OUTCOME_INPUTS
# Which timer kind wrote an entry of each system action (the claim entries a settlement writes
# carry note=settled)
FIRED_BY: Mapping[str, tuple[TimerKind, ...]] = {
    A.SETTLE: (TimerKind.SETTLE,), A.RECYCLE: (TimerKind.DEADLINE,), A.WARN: (TimerKind.WARN,),
    A.OFFER: (TimerKind.STAGE, TimerKind.OPEN), A.AUTO_ASSIGN: (TimerKind.AUTO,),
}
SYSTEM = frozenset(FIRED_BY) | {A.ASSIGN}
Fields = Mapping[str, str]


class RecordError(ValueError):
    """The audit cannot be replayed (unreadable, or a rules version it needs is missing)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One recorded entry in replay order: position, time and fields."""

    pos: int
    ts: int
    fields: Fields

    @property
    def action(self) -> str:
        return self.fields.get(AuditField.ACTION, "")

    @property
    def is_input(self) -> bool:
        return (self.action in INPUTS and self.fields.get(AuditField.NOTE) != AuditNote.SETTLED
                and not is_side_effect(self.action, self.fields))


@dataclass(slots=True)
class Record:
    """A team's recorded audit in (ts, stream order), with the rules of every version."""

    steps: list[Step]
    rules: dict[int, str] = field(default_factory=dict)  # version -> rules JSON
    digests: dict[int, str] = field(default_factory=dict)

    @property
    def entries(self) -> list[tuple[str, Fields]]:
        return [(str(s.pos), s.fields) for s in self.steps]

    def team(self) -> str | None:
        """The team named in the first publish payload, if any."""
        for step in self.steps:
            if step.action == A.PUBLISH and AuditField.PAYLOAD in step.fields:
                team = json.loads(step.fields[AuditField.PAYLOAD]).get("team")
                return str(team) if team else None
        return None

    def fired(self) -> dict[tuple[str, TimerKind], list[tuple[int, int]]]:
        """(lead, timer kind) -> the (ts, pos) of each recorded firing, in order."""
        found: defaultdict[tuple[str, TimerKind], list[tuple[int, int]]] = defaultdict(list)
        for step in self.steps:
            for kind in FIRED_BY.get(step.action, ()):
                found[(step.fields.get(AuditField.LEAD, ""), kind)].append((step.ts, step.pos))
        return dict(found)

    def seeds(self) -> dict[int, str]:
        """Position -> the seed its recorded draw (settle, auto_assign) used."""
        return {step.pos: step.fields[AuditField.SEED] for step in self.steps
                if step.action in (A.SETTLE, A.AUTO_ASSIGN) and step.fields.get(AuditField.SEED)}


def record(entries: Iterable[Mapping[str, str]],
           history: Mapping[int, str] | None = None) -> Record:
    """A Record from audit entries (JSONL export rows or stream fields) and the kept rules."""
    rows = [dict(e) for e in entries]
    for n, row in enumerate(rows):
        if not row.get(AuditField.TS, "").lstrip("-").isdigit() or not row.get(AuditField.ACTION):
            raise RecordError(f"entry {n + 1}: an audit entry needs ts and action ({row})")
    order = sorted(range(len(rows)), key=lambda n: int(rows[n][AuditField.TS]))
    steps = [Step(pos, int(rows[n][AuditField.TS]), rows[n]) for pos, n in enumerate(order)]
    found = Record(steps, dict(history or {}))
    for step in steps:
        if step.action == A.RULES_LOADED and AuditField.RULES in step.fields:
            version = int(step.fields.get(AuditField.RULES_VERSION, "0"))
            found.rules[version] = step.fields[AuditField.RULES]
            found.digests[version] = step.fields.get(AuditField.DIGEST, "")
    return found


def read_jsonl(lines: Iterable[str]) -> list[dict[str, str]]:
    """Entries of a `GET /api/audit?format=jsonl` export."""
    found = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordError(f"line {n}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise RecordError(f"line {n}: expected an object")
        found.append({str(k): str(v) for k, v in row.items()})
    return found


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision as an audit entry states it: who, on what, and the result."""

    action: str
    lead: str
    rep: str
    result: str
    reason: str


def decisions(entries: Iterable[tuple[str, Fields]]) -> dict[tuple[str, ...], Decision]:
    """Every decision of an audit keyed by what it decided (its n-th occurrence)."""
    seen: Counter[tuple[str, ...]] = Counter()
    found: dict[tuple[str, ...], Decision] = {}
    for _, f in entries:
        action = f.get(AuditField.ACTION, "")
        if action == A.RULES_LOADED:
            continue
        lead, rep = f.get(AuditField.LEAD, ""), f.get(AuditField.REP, "")
        subject = "" if action in SYSTEM else rep
        settled = "settled" if f.get(AuditField.NOTE) == AuditNote.SETTLED else ""
        what = (action, lead, subject, f.get(AuditField.REQ, ""), settled)
        seen[what] += 1
        reason = f.get(AuditField.REASON, "")
        if action == A.OFFER:
            reason = f.get(AuditField.AUDIENCE, "")
        found[(*what, str(seen[what]))] = Decision(action, lead, rep,
                                                   f.get(AuditField.RESULT, ""), reason)
    return found
