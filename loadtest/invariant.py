"""Exactly one winner per lead, checked from the clients' view and from the audit stream.

In window mode a claim is answered `pending` first and its final result later; the audit stream
then holds, per lead, `action=claim result=pending` entries, one `action=claim note=settled`
entry per candidate (the one with `result=won` is the winner) and one `action=settle` entry that
names the winner again, which must agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadtest.tally import LeadSeen

EXAMPLES = 5


@dataclass
class Verdict:
    """What broke the invariant, lead by lead."""

    leads_checked: int = 0
    multiple_winners: list[str] = field(default_factory=list)
    lost_without_winner: list[str] = field(default_factory=list)
    audit_checked: bool = False
    audit_leads_won: int = 0
    audit_multiple_winners: list[str] = field(default_factory=list)
    audit_mismatch: list[str] = field(default_factory=list)
    audit_leads_settled: int = 0
    audit_settle_mismatch: list[str] = field(default_factory=list)
    lenient_orphans: bool = False

    @property
    def violations(self) -> int:
        orphans = 0 if self.lenient_orphans else len(self.lost_without_winner)
        return (len(self.multiple_winners) + orphans + len(self.audit_multiple_winners)
                + len(self.audit_mismatch) + len(self.audit_settle_mismatch))

    def to_dict(self) -> dict[str, Any]:
        lists = {
            "client_multiple_winners": self.multiple_winners,
            "client_lost_without_winner": self.lost_without_winner,
            "audit_multiple_winners": self.audit_multiple_winners,
            "audit_mismatch": self.audit_mismatch,
            "audit_settle_mismatch": self.audit_settle_mismatch,
        }
        return {
            "ok": self.violations == 0, "violations": self.violations,
            "leads_checked": self.leads_checked, "audit_checked": self.audit_checked,
            "audit_leads_won": self.audit_leads_won,
            "audit_leads_settled": self.audit_leads_settled,
            **{name: len(ids) for name, ids in lists.items()},
            "examples": {name: ids[:EXAMPLES] for name, ids in lists.items() if ids},
        }


def check_clients(leads: dict[str, LeadSeen], unanswered: int) -> Verdict:
    """Two `won` for one lead breaks the invariant; a `lost` with no `won` does too, unless
    some claim was never answered (the winner's answer may be the missing one)."""
    verdict = Verdict(leads_checked=len(leads), lenient_orphans=unanswered > 0)
    for lead_id, seen in sorted(leads.items()):
        if len(seen.winners) > 1:
            verdict.multiple_winners.append(lead_id)
        elif seen.lost and not seen.winners:
            verdict.lost_without_winner.append(lead_id)
    return verdict


def check_audit(verdict: Verdict, leads: dict[str, LeadSeen],
                audit_winners: dict[str, list[str]], settles: dict[str, str] | None = None) -> None:
    """Compare audit winners with each other, with the clients' and with each `settle` entry."""
    verdict.audit_checked = True
    for lead_id, rep in sorted((settles or {}).items()):
        verdict.audit_leads_settled += 1
        if audit_winners.get(lead_id) != [rep]:
            verdict.audit_settle_mismatch.append(lead_id)
    verdict.audit_leads_won = len(audit_winners)
    for lead_id, reps in sorted(audit_winners.items()):
        if len(reps) > 1:
            verdict.audit_multiple_winners.append(lead_id)
        seen = leads.get(lead_id)
        if seen is not None and seen.winners and sorted(set(seen.winners)) != sorted(set(reps)):
            verdict.audit_mismatch.append(lead_id)
