"""What each audit entry adds to a rep's day counters (pure), for the scorecard to sum."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from server.contracts.audit_fields import AuditAction as A
from server.contracts.audit_fields import AuditField as F
from server.contracts.audit_fields import AuditNote
from server.store.score_keys import TallyBatch

# Actions that give a lead to `rep` (a claim only when won, and not by its holder again)
GIVING = frozenset({A.DISPATCH, A.REASSIGN, A.AUTO_ASSIGN, A.ASSIGN})
# Actions that end a holding: a first follow-up no longer to come
ENDING = frozenset({A.CLOSE, A.RELEASE, A.RECYCLE, A.WITHDRAW})
# The complaint steps of issue 13 (written by the complaints scripts; names fixed by contract)
FEEDBACK, RULING, APPEAL, APPEAL_RULING, DISPUTE_RULING = (
    "feedback", "complaint_ruling", "appeal", "appeal_ruling", "dispute_ruling")
UPHELD = "upheld:"  # counter prefix: upheld complaints by category
# The complaint steps after which a complaint counts against its rep, by the status they
# carry: upheld (no appeal), or an appeal rejected; an appeal itself, a dismissal or an
# overturned appeal leave it not counting
COUNTING = {RULING: "upheld", APPEAL_RULING: "rejected"}


def local_day(ts_ms: int, zone: ZoneInfo) -> str:
    """The local calendar date (YYYY-MM-DD) of an instant in the team's time zone."""
    return datetime.fromtimestamp(ts_ms / 1000, zone).date().isoformat()


def leads_and_refs(rows: Sequence[tuple[str, Mapping[str, str]]]) -> tuple[list[str], list[str]]:
    """The leads and complaint refs a batch touches (whose carried state it needs)."""
    leads = sorted({f[F.LEAD] for _, f in rows if f.get(F.LEAD)})
    refs = sorted({f["ref"] for _, f in rows if f.get("ref")})
    return leads, refs


class Counting:
    """Counts a batch of audit entries into a TallyBatch, carrying the follow-up state of the
    leads (`takes`: lead -> 'rep|taken ms') and the standing of complaints (`refs`)."""

    def __init__(self, zone: ZoneInfo, takes: dict[str, str], refs: dict[str, str]) -> None:
        self.zone = zone
        self.takes, self.takes_before = dict(takes), set(takes)
        self.refs = {ref: json.loads(raw) for ref, raw in refs.items()}
        self.touched_refs: set[str] = set()
        self.batch = TallyBatch()

    def add(self, rep: str, day: str, name: str, n: int = 1) -> None:
        key = (rep, f"{day}|{name}")
        self.batch.incr[key] = self.batch.incr.get(key, 0) + n

    def count(self, f: Mapping[str, str]) -> None:
        """Count one entry."""
        action, rep, lead = f.get(F.ACTION, ""), f.get(F.REP, ""), f.get(F.LEAD, "")
        ts = int(f.get(F.TS) or 0)
        day = local_day(ts, self.zone)
        if rep and _gives(action, f):
            self.add(rep, day, "taken")
            self.takes[lead] = f"{rep}|{ts}"
        elif action == A.FOLLOWUP and f.get(F.RESULT) == "ok" and rep:
            self._followup(rep, lead, ts, day)
        elif action in ENDING:
            self._ended(action, f, rep, lead, day)
        elif action == FEEDBACK and f.get("rating") and rep:
            self.add(rep, day, "rating_sum", int(f["rating"]))
            self.add(rep, day, "rating_n")
        elif action in (RULING, APPEAL, APPEAL_RULING) and f.get("ref"):
            self._complaint(action, f, rep, day)
        elif action == DISPUTE_RULING and f.get(F.PREV):
            self.add(f[F.PREV], day, "disputes_lost")

    def _followup(self, rep: str, lead: str, ts: int, day: str) -> None:
        self.add(rep, day, "kept")
        holder, _, taken = self.takes.get(lead, "").partition("|")
        if holder == rep:
            self.batch.append.append((rep, f"{day}|ff", max(ts - int(taken), 0)))
            del self.takes[lead]

    def _ended(self, action: str, f: Mapping[str, str], rep: str, lead: str, day: str) -> None:
        self.takes.pop(lead, None)
        if not rep:
            return
        if action == A.CLOSE and f.get(F.OUTCOME) in ("won", "lost"):
            self.add(rep, day, f[F.OUTCOME])
        elif action == A.RECYCLE:
            self.add(rep, day, "recycles")

    def _complaint(self, action: str, f: Mapping[str, str], rep: str, day: str) -> None:
        """A complaint counts while its last ruling is upheld (unappealed) or its appeal was
        rejected; it is counted on the day it was first upheld, under its category."""
        ref = f["ref"]
        state = self.refs.setdefault(ref, {"rep": rep, "day": "", "category": "",
                                           "counted": False})
        state["category"] = f.get("category") or state["category"]
        state["rep"] = state["rep"] or rep
        counts = COUNTING.get(action) == f.get("status", "")
        if counts and not state["day"]:
            state["day"] = day
        if counts != state["counted"] and state["rep"] and state["day"]:
            self.add(state["rep"], state["day"], UPHELD + state["category"],
                     1 if counts else -1)
        state["counted"] = counts
        self.touched_refs.add(ref)

    def finish(self) -> TallyBatch:
        """The batch, with the carried state of every lead and complaint it touched."""
        batch = self.batch
        batch.takes_set.update({k: v for k, v in self.takes.items()})
        batch.takes_del.update(self.takes_before - set(self.takes))
        batch.refs_set.update({ref: json.dumps(self.refs[ref], sort_keys=True)
                               for ref in self.touched_refs})
        return batch


def _gives(action: str, f: Mapping[str, str]) -> bool:
    if action == A.CLAIM:
        return f.get(F.RESULT) == "won" and f.get(F.NOTE) != AuditNote.ALREADY_HOLDER
    return action in GIVING and f.get(F.RESULT) == "ok"
