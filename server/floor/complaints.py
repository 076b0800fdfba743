"""Customer feedback and the due process of complaints: received -> upheld | dismissed ->
appealed (once, in time) -> overturned | rejected; and their typed views."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.contracts.reasons import Reason
from server.contracts.results import OutcomeStep
from server.contracts.statuses import Status
from server.floor.arbiter import Arbiter
from server.store.outcome_keys import FeedbackIn

RULINGS = ("upheld", "dismissed")
APPEAL_RULINGS = ("overturned", "rejected")
COUNTING = ("upheld", "rejected")  # a complaint counts against its rep in these states
_TIMES = ("ts", "contact_at", "ruled_ms", "appeal_until", "appealed_ms", "resolved_ms",
          "penalty_cooldown_until", "pause_until_ms")


def _int(raw: str | None) -> int | None:
    return int(raw) if raw not in (None, "") else None


def feedback_view(ref: str, team: str, f: Mapping[str, str]) -> dict[str, Any]:
    """A rating or complaint as the API shows it (a rating has no status or rulings)."""
    view: dict[str, Any] = {
        "id": ref, "team": team, "kind": f.get("kind", ""), "lead_id": f.get("lead", ""),
        "rep": f.get("rep") or None, "actor": f.get("actor", ""),
        "rating": _int(f.get("rating")), "category": f.get("category") or None,
        "text": f.get("note", ""), "status": f.get("status") or None,
        "counts": f.get("status") in COUNTING,
        "ruling_reason": f.get("ruling_reason") or None,
        "appeal_reason": f.get("appeal_reason") or None,
        "appeal_ruling_reason": f.get("appeal_ruling_reason") or None,
    }
    for name in _TIMES:
        view[name if name.endswith("_ms") else f"{name}_ms"] = _int(f.get(name))
    return view


def dispute_view(ref: str, team: str, f: Mapping[str, str]) -> dict[str, Any]:
    """A 撞单 dispute as the API shows it."""
    return {"id": ref, "team": team, "lead_id": f.get("lead", ""), "rep": f.get("rep", ""),
            "holder": f.get("prev", ""), "status": f.get("status", ""),
            "evidence": f.get("note", ""), "customer": f.get("customer") or None,
            "ts_ms": _int(f.get("ts")), "ruled_ms": _int(f.get("ruled_ms")),
            "ruling_reason": f.get("ruling_reason") or None,
            "ruled_by": f.get("ruled_by") or None}


class Complaints:
    """Feedback from integrations, manager rulings and rep appeals, each one atomic script."""

    def __init__(self, arbiter: Arbiter) -> None:
        self.arbiter = arbiter

    async def record(self, team: str, feedback: FeedbackIn) -> OutcomeStep:
        """A rating or complaint, recorded once per id."""
        return await self.arbiter.store.record_feedback(team, feedback)

    async def rule(self, team: str, ref: str, decision: str, actor: str,
                   reason: str) -> OutcomeStep:
        """A manager upholds or dismisses a received complaint."""
        step = "ruling" if decision in RULINGS else "appeal_ruling"
        return await self.arbiter.store.rule_complaint(team, ref, step, decision, actor, reason)

    async def appeal(self, rep_id: str, ref: str, reason: str) -> OutcomeStep:
        """The rep appeals an upheld complaint against them."""
        member = self.arbiter.member(rep_id)
        if member is None:
            return OutcomeStep(Status.REJECTED, Reason.NOT_YOURS)
        return await self.arbiter.store.appeal_complaint(member.team, ref, rep_id, reason)

    async def lift_pause(self, team: str, rep_id: str) -> OutcomeStep:
        """A 'resume:<rep>' timer fired: end the penalty's pause if it is still on."""
        return await self.arbiter.store.lift_pause(team, rep_id)

    async def view(self, team: str, ref: str) -> dict[str, Any] | None:
        """One feedback's view, or None if unknown."""
        found = await self.arbiter.store.feedback_fields(team, ref)
        return feedback_view(ref, team, found) if found else None

    async def listed(self, team: str, lead_id: str = "", rep: str = "") -> dict[str, Any]:
        """The feedback and disputes of a lead or of a rep, oldest first."""
        rows = await self.arbiter.store.outcomes_of(team, lead_id, rep)
        return {"feedback": [feedback_view(ref, team, f) for kind, ref, f in rows if kind == "fb"],
                "disputes": [dispute_view(ref, team, f) for kind, ref, f in rows
                             if kind == "dispute"]}
