"""Keys of complaints and disputes (issue 13), and the KEYS/ARGV of their scripts (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from server.store import keys as k
from server.store.keys import Retention, ScriptCall


def feedback(team: str, ref: str) -> str:
    """Hash: one rating or complaint (kind, lead, rep, status, rulings, penalty applied)."""
    return k._key(team, "fb", ref)


def dispute(team: str, ref: str) -> str:
    """Hash: one 撞单 dispute (lead, rep, prev, status, evidence, ruling)."""
    return k._key(team, "dispute", ref)


def lead_outcomes(team: str, lead_id: str) -> str:
    """Sorted set: a lead's 'fb:<ref>' and 'dispute:<ref>' members, scored by time (ms)."""
    return k._key(team, "outcomes", "lead", lead_id)


def rep_outcomes(team: str, rep: str) -> str:
    """Sorted set: a rep's feedback and disputes (either side), scored by time (ms)."""
    return k._key(team, "outcomes", "rep", rep or "-")


@dataclass(frozen=True, slots=True)
class FeedbackIn:
    """A rating or complaint as an integration posted it (checked by the caller)."""

    ref: str
    lead_id: str
    actor: str
    kind: str  # 'rating' | 'complaint'
    rating: int | None
    category: str
    text: str
    contact_at_ms: int | None


def feedback_call(team: str, f: FeedbackIn, expected_rep: str, retention: Retention,
                  now: str) -> ScriptCall:
    """record_feedback.lua: a rating or complaint, attached to the rep who held the lead."""
    return ScriptCall(
        [k.rules(team), k.lead(team, f.lead_id), k.trail(team, f.lead_id), k.audit(team),
         k.events(team), feedback(team, f.ref), lead_outcomes(team, f.lead_id),
         rep_outcomes(team, expected_rep)],
        [now, f.ref, f.lead_id, f.actor, f.kind, "" if f.rating is None else f.rating,
         f.category, f.text, "" if f.contact_at_ms is None else f.contact_at_ms, expected_rep,
         retention.audit_maxlen, retention.events_maxlen])


def ruling_call(team: str, ref: str, step: str, decision: str, actor: str, reason: str,
                rep: str, lead_id: str, retention: Retention, now: str) -> ScriptCall:
    """rule_complaint.lua: a manager's ruling on a complaint ('ruling') or its appeal."""
    return ScriptCall(
        [k.rules(team), feedback(team, ref), k.rep_state(team, rep or "-"), k.audit(team),
         k.events(team), k.timers(team), k.trail(team, lead_id)],
        [now, ref, step, decision, actor, reason, rep, retention.audit_maxlen,
         retention.events_maxlen])


def appeal_call(team: str, ref: str, rep: str, reason: str, lead_id: str,
                retention: Retention, now: str) -> ScriptCall:
    """appeal_complaint.lua: the rep appeals an upheld complaint."""
    return ScriptCall(
        [k.rules(team), feedback(team, ref), k.audit(team), k.events(team),
         k.trail(team, lead_id)],
        [now, ref, rep, reason, retention.audit_maxlen, retention.events_maxlen])


def lift_pause_call(team: str, rep: str, retention: Retention, now: str) -> ScriptCall:
    """lift_pause.lua: a complaint penalty's pause ends ('resume:<rep>' timer)."""
    return ScriptCall(
        [k.rep_state(team, rep), k.timers(team), k.audit(team), k.events(team), k.rules(team)],
        [now, rep, retention.audit_maxlen, retention.events_maxlen])


def file_dispute_call(team: str, ref: str, lead_id: str, rep: str, evidence: str, holder: str,
                      retention: Retention, now: str) -> ScriptCall:
    """file_dispute.lua: a rep disputes a lead another rep holds."""
    return ScriptCall(
        [k.rules(team), k.lead(team, lead_id), dispute(team, ref), k.audit(team),
         k.events(team), k.trail(team, lead_id), lead_outcomes(team, lead_id),
         rep_outcomes(team, rep), rep_outcomes(team, holder)],
        [now, ref, lead_id, rep, evidence, holder, retention.audit_maxlen,
         retention.events_maxlen])


@dataclass(frozen=True, slots=True)
class DisputeRuling:
    """A manager's ruling on a dispute, with the dispute and lead as the caller read them."""

    ref: str
    decision: str  # 'keep' | 'reassign'
    actor: str
    reason: str
    lead_id: str
    rep: str  # the disputing rep
    holder: str
    customer_id: str


def resolve_dispute_call(team: str, r: DisputeRuling, retention: Retention,
                         now: str) -> ScriptCall:
    """resolve_dispute.lua: keep, or reassign the lead and its customer to the disputing rep."""
    return ScriptCall(
        [k.rules(team), k.days(team), k.lead(team, r.lead_id), dispute(team, r.ref),
         k.audit(team), k.events(team), k.trail(team, r.lead_id), k.timers(team),
         k.customer(team, r.customer_id), k.held(team, r.rep or "-"),
         k.held(team, r.holder or "-"), k.rep_state(team, r.rep or "-"), k.pool(team)],
        [now, r.ref, r.decision, r.actor, r.reason, r.rep, r.holder, r.customer_id,
         retention.audit_maxlen, retention.events_maxlen])
