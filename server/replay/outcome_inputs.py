"""Replays the recorded complaint and dispute steps (issue 13) through the real scripts."""

from __future__ import annotations

from collections.abc import Mapping

from server.contracts.audit_fields import AuditAction as A
from server.contracts.audit_fields import AuditField as F
from server.floor.arbiter import Arbiter
from server.floor.complaints import Complaints
from server.floor.disputes import Disputes
from server.store.outcome_keys import FeedbackIn

# Inputs: what integrations, reps and managers asked for
OUTCOME_INPUTS = frozenset({A.FEEDBACK, A.COMPLAINT_RULING, A.APPEAL, A.APPEAL_RULING,
                            A.DISPUTE, A.DISPUTE_RULING})


def is_side_effect(action: str, f: Mapping[str, str]) -> bool:
    """A pause or resume a complaint step wrote (it names the complaint), or a penalty pause's
    end (actor system): replayed by that step and the 'resume:' timer, not as an input."""
    return action in (A.PAUSE, A.RESUME) and (bool(f.get(F.REF)) or f.get(F.ACTOR) == "system")


def _feedback(f: Mapping[str, str]) -> FeedbackIn:
    rating, contact = f.get(F.RATING), f.get(F.CONTACT_AT)
    kind = "complaint" if f.get(F.CATEGORY) else "rating"
    return FeedbackIn(f.get(F.REF, ""), f.get(F.LEAD, ""), f.get(F.ACTOR, ""), kind,
                      int(rating) if rating else None, f.get(F.CATEGORY, ""), f.get(F.NOTE, ""),
                      int(contact) if contact else None)


async def act(arbiter: Arbiter, team: str, action: str, f: Mapping[str, str]) -> None:
    """Run one recorded complaint or dispute step again (other actions: nothing)."""
    ref, actor, reason = f.get(F.REF, ""), f.get(F.ACTOR, ""), f.get(F.REASON, "")
    status = f.get(F.STATUS, "")
    if action == A.FEEDBACK:
        await Complaints(arbiter).record(team, _feedback(f))
    elif action in (A.COMPLAINT_RULING, A.APPEAL_RULING):
        await Complaints(arbiter).rule(team, ref, status, actor, reason)
    elif action == A.APPEAL:
        await Complaints(arbiter).appeal(f.get(F.REP, ""), ref, reason)
    elif action == A.DISPUTE:
        await Disputes(arbiter).file(f.get(F.REP, ""), ref, f.get(F.LEAD, ""),
                                     f.get(F.NOTE, ""))
    elif action == A.DISPUTE_RULING:
        decision = "reassign" if status == "reassigned" else "keep"
        await Disputes(arbiter).resolve(team, ref, decision, actor, reason)
