"""Exactly one winner per lead, checked from the clients' view and from the audit stream.

In window mode a claim is answered `pending` first and its final result later; the audit stream
then holds, per lead, `action=claim result=pending` entries, one `action=claim note=settled`
entry per candidate (the one with `result=won` is the winner) and one `action=settle` entry that
names the winner again, which must agree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from loadtest.tally import LeadSeen
from server import keys

PAGE = 10_000
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


async def audit_mark(redis_url: str, team: str) -> str:
    """The id of the newest audit entry now; the check reads only what comes after it."""
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        newest: Any = await client.xrevrange(keys.audit(team), count=1)
    finally:
        await client.aclose()
    return str(newest[0][0]) if newest else "0-0"


async def audit_winners(redis_url: str, team: str, prefix: str,
                        after: str) -> tuple[dict[str, list[str]], dict[str, str]]:
    """This run's lead id → reps with a `won` claim decision, and → its `settle` entry's winner."""
    client = Redis.from_url(redis_url, decode_responses=True)
    winners: dict[str, list[str]] = defaultdict(list)
    settles: dict[str, str] = {}
    try:
        start = f"({after}"
        while True:
            page: Any = await client.xrange(keys.audit(team), min=start, count=PAGE)
            for _, fields in page:
                if _is_win(fields, prefix):
                    winners[fields["lead"]].append(fields["rep"])
                elif _is_settled_win(fields, prefix):
                    settles[fields["lead"]] = fields["rep"]
            if len(page) < PAGE:
                return dict(winners), settles
            start = f"({page[-1][0]}"
    finally:
        await client.aclose()


def _is_win(fields: dict[str, str], prefix: str) -> bool:
    return (fields.get("action") == "claim" and fields.get("result") == "won"
            and fields.get("note") != "already_holder"
            and fields.get("lead", "").startswith(prefix))


def _is_settled_win(fields: dict[str, str], prefix: str) -> bool:
    return (fields.get("action") == "settle" and fields.get("result") == "won"
            and fields.get("lead", "").startswith(prefix))
