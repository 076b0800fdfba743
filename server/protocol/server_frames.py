"""Frames the server sends: one constructor per frame type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.contracts.reasons import Outcome, Reason, outcome_of, reason_of
from server.contracts.results import ActionResult
from server.protocol.codes import ACTIONS, PROTOCOL_VERSION, ErrorCode, Frame, error_body


def welcome(
    rep: str,
    team: str,
    server_time_ms: int,
    quota: Mapping[str, Any],
    cooldown_until_ms: int | None,
    rules_version: int,
) -> Frame:
    """The reply to a valid hello: who the rep is and their current quota and cooldown."""
    return {
        "type": "welcome",
        "protocol": PROTOCOL_VERSION,
        "rep": rep,
        "team": team,
        "server_time_ms": server_time_ms,
        "quota": dict(quota),
        "cooldown_until_ms": cooldown_until_ms,
        "rules_version": rules_version,
    }


def lead(payload: Mapping[str, Any]) -> Frame:
    """A published lead; `payload` holds lead_id, team, seq and the lead's public attributes."""
    missing = [key for key in ("lead_id", "team", "seq") if key not in payload]
    if missing:
        raise ValueError(f"lead payload lacks {', '.join(missing)}")
    frame: Frame = {"type": "lead"}
    frame.update((key, value) for key, value in payload.items() if key != "type")
    return frame


def claim_result(
    req_id: str,
    lead_id: str,
    result: Outcome,
    reason: Reason | None = None,
    retry_after_ms: int | None = None,
) -> Frame:
    """The answer to one claim; `reason` is required when the result is rejected."""
    result = outcome_of(result)
    if result is Outcome.REJECTED and reason is None:
        raise ValueError("a rejected claim result needs a reason")
    frame: Frame = {"type": "claim_result", "req_id": req_id, "lead_id": lead_id}
    frame["result"] = result.value
    if reason is not None:
        frame["reason"] = reason_of(reason).value
    if retry_after_ms is not None:
        frame["retry_after_ms"] = retry_after_ms
    return frame


def action_result(action: str, result: ActionResult) -> Frame:
    """The answer to a release or close: ok, or the reason nothing changed."""
    if action not in ACTIONS:
        raise ValueError(f"action {action!r} is not one of {', '.join(sorted(ACTIONS))}")
    frame: Frame = {"type": "action_result", "action": action, "lead_id": result.lead_id}
    frame["ok"] = result.ok
    if result.reason is not None:
        frame["reason"] = Reason(result.reason).value
    if result.deadline_ms is not None:
        frame["deadline_ms"] = result.deadline_ms
    return frame


def assigned(lead_id: str, seq: str, by: str, reason: str, lead: Mapping[str, Any]) -> Frame:
    """Tells a rep a lead is now theirs without a claim (dispatch, duplicate, auto-assign)."""
    return {"type": "assigned", "lead_id": lead_id, "seq": seq, "by": by, "reason": reason,
            "lead": dict(lead)}


def revoked(lead_id: str, reason: str) -> Frame:
    """Tells a rep a lead they held is no longer theirs (recycled, reassigned, withdrawn)."""
    return {"type": "revoked", "lead_id": lead_id, "reason": reason}


def warning(lead_id: str, deadline_ms: int, kind: str) -> Frame:
    """Warns the holder that a deadline (`followup` or `max_hold`) is close."""
    return {"type": "warning", "lead_id": lead_id, "deadline_ms": deadline_ms, "kind": kind}


def paused(is_paused: bool) -> Frame:
    """Tells a rep they were paused (no offers, no claims) or resumed."""
    return {"type": "paused", "paused": is_paused}


def complaint(fields: Mapping[str, str]) -> Frame:
    """Tells a rep a step of a complaint against them: received, upheld, dismissed, appealed,
    overturned or rejected (`reason`: the ruling's notes; `appeal_until_ms` once upheld)."""
    until = fields.get("appeal_until") or ""
    return {"type": "complaint", "id": fields.get("ref", ""), "lead_id": fields.get("lead_id", ""),
            "status": fields.get("status", ""), "category": fields.get("category", ""),
            "reason": fields.get("reason", ""), "appeal_until_ms": int(until) if until else None}


def dispute(fields: Mapping[str, str]) -> Frame:
    """Tells both reps of a 撞单 dispute a step: open, kept or reassigned (`rep` disputes the
    lead `holder` held when it was filed)."""
    return {"type": "dispute", "id": fields.get("ref", ""), "lead_id": fields.get("lead_id", ""),
            "status": fields.get("status", ""), "rep": fields.get("rep", ""),
            "holder": fields.get("prev", ""), "reason": fields.get("reason", "")}
def tier(tier_name: str | None, prev: str | None, reason: str) -> Frame:
    """Tells a rep its tier changed: promoted, demoted (earned by score), pinned or unpinned."""
    return {"type": "tier", "tier": tier_name, "prev": prev, "reason": reason}


def lead_taken(lead_id: str, seq: str) -> Frame:
    """Tells every client a lead is decided, so they drop it."""
    return {"type": "lead_taken", "lead_id": lead_id, "seq": seq}


def error(code: ErrorCode, message: str, temporary: bool | None = None) -> Frame:
    """An error frame; `temporary` defaults to whether the code is a temporary one."""
    return {"type": "error", **error_body(code, message, temporary)}


def gap(requested: str, first_available: str | None) -> Frame:
    """Tells a resuming client that entries after `requested` were trimmed from the stream."""
    return {"type": "gap", "requested": requested, "first_available": first_available}


def resumed(count: int) -> Frame:
    """Ends a resume replay: `count` frames were replayed and live frames follow."""
    return {"type": "resumed", "count": count}


def limits(quota: Mapping[str, Any], cooldown_until_ms: int | None, rules_version: int,
           rules: Mapping[str, Any]) -> Frame:
    """A rep's effective limits changed (a reload): today's quota as in welcome, and the rules."""
    return {"type": "limits", "quota": dict(quota), "cooldown_until_ms": cooldown_until_ms,
            "rules_version": rules_version, "rules": dict(rules)}
