"""HTTP endpoints of complaints and disputes: feedback from integrations, manager rulings, rep
appeals, 撞单 disputes, and reading each outcome back."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from server.contracts.reasons import Reason
from server.contracts.results import OutcomeStep
from server.contracts.statuses import Status
from server.floor.complaints import APPEAL_RULINGS, RULINGS, Complaints
from server.floor.disputes import DECISIONS, Disputes
from server.protocol import ErrorCode
from server.protocol.limits import LEAD_ID_RULE, REQ_ID_RULE, is_lead_id, is_req_id
from server.store.outcome_keys import FeedbackIn
from server.web.appkeys import ARBITER
from server.web.auth import Principal, Role
from server.web.errors import ApiError
from server.web.floor_api import _text
from server.web.requests import json_body, principal, team_param

# How a rejection is answered: a missing thing 404, someone else's 403, bad input 400, and
# a step the item's state does not allow 409
_STATUS = {Reason.NOT_FOUND: 404, Reason.NOT_YOURS: 403, Reason.UNKNOWN_CATEGORY: 400,
           Reason.BAD_RATING: 400, Reason.INELIGIBLE: 403}
_MESSAGES = {
    Reason.NOT_FOUND: "no such lead, feedback or dispute",
    Reason.UNKNOWN_CATEGORY: "category: not one of the team's complaint categories",
    Reason.BAD_RATING: "rating: expected an integer from 1 to 5",
    Reason.ALREADY_RULED: "the complaint was ruled on already",
    Reason.NOT_COMPLAINT: "a rating has no due process",
    Reason.NOT_UPHELD: "only an upheld complaint can be appealed",
    Reason.APPEAL_EXPIRED: "the appeal window has closed",
    Reason.ALREADY_APPEALED: "the complaint was appealed already (once only)",
    Reason.NOT_APPEALED: "no appeal is pending on this complaint",
    Reason.NOT_YOURS: "a rep acts on their own complaints only",
    Reason.NOT_HELD: "the lead is not held (by the rep the dispute names)",
    Reason.ALREADY_HOLDER: "you hold this lead already",
    Reason.ALREADY_RESOLVED: "the dispute was resolved already",
    Reason.INELIGIBLE: "the rep is not on the roster",
}


def _answer(step: OutcomeStep, body: dict[str, Any], created: int = 200) -> web.Response:
    """A step's answer: the item's view, or the rejection with its reason code."""
    if step.ok:
        return web.json_response({"ok": True, **body},
                                 status=created if step.status is Status.OK else 200)
    reason = Reason(step.reason)
    return web.json_response({"ok": False, "status": step.status, "reason": reason,
                              "message": _MESSAGES.get(reason, reason)},
                             status=_STATUS.get(reason, 409))


def feedback_in(body: dict[str, Any], lead_id: str, actor: str) -> FeedbackIn:
    """A feedback body: {id, rating} or {id, category, text}, optional contact_at (ms)."""
    ref = _ref(body.get("id"))
    rating, category = body.get("rating"), body.get("category")
    if (rating is None) == (category is None):
        raise ApiError(400, ErrorCode.BAD_FIELD, "expected a rating or a complaint category "
                       "(exactly one of rating, category)")
    if rating is not None and (not isinstance(rating, int) or isinstance(rating, bool)):
        raise ApiError(400, ErrorCode.BAD_FIELD, "rating: expected an integer from 1 to 5")
    if category is not None and not isinstance(category, str):
        raise ApiError(400, ErrorCode.BAD_FIELD, "category: expected a string")
    contact = body.get("contact_at")
    if contact is not None and (not isinstance(contact, int) or isinstance(contact, bool)
                                or not 0 <= contact < 2**53):
        raise ApiError(400, ErrorCode.BAD_FIELD, "contact_at: expected ms since the epoch")
    kind = "rating" if category is None else "complaint"
    rating_value = None if rating is None else max(min(rating, 99), -99)
    return FeedbackIn(ref, lead_id, actor, kind, rating_value, category or "",
                      _text(body, "text"), contact)


def _ref(value: object, name: str = "id") -> str:
    if not is_req_id(value):
        raise ApiError(400, ErrorCode.BAD_FIELD, f"{name}: expected {REQ_ID_RULE}")
    assert isinstance(value, str)
    return value


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = body.get(name)
    if value not in allowed:
        raise ApiError(400, ErrorCode.BAD_FIELD, f"{name}: expected one of: "
                       f"{', '.join(allowed)} (got {value!r})")
    return str(value)


def _team(request: web.Request, who: Principal) -> str:
    team = team_param(request, who.team)
    if not who.sees(team):
        raise ApiError(403, ErrorCode.FORBIDDEN, f"this token does not cover team {team!r}")
    return team


def _lead_id(request: web.Request) -> str:
    lead_id = request.match_info["id"]
    if not is_lead_id(lead_id):
        raise ApiError(400, ErrorCode.BAD_FIELD, f"lead id: expected {LEAD_ID_RULE}")
    return lead_id


async def post_feedback(request: web.Request) -> web.Response:
    """POST /api/leads/{id}/feedback?team= — an integration's rating or complaint."""
    who = principal(request, Role.INTEGRATION, Role.MANAGER)
    team = _team(request, who)
    feedback = feedback_in(await json_body(request), _lead_id(request),
                           f"{who.role}:{who.subject}")
    complaints = Complaints(request.app[ARBITER])
    step = await complaints.record(team, feedback)
    return _answer(step, {"feedback": await complaints.view(team, feedback.ref)}, created=201)


async def get_feedback(request: web.Request) -> web.Response:
    """GET /api/feedback/{id}?team= — the outcome (integration, manager, or its own rep)."""
    who = principal(request, Role.INTEGRATION, Role.MANAGER, Role.REP)
    team = _team(request, who)
    view = await Complaints(request.app[ARBITER]).view(team, _ref(request.match_info["id"]))
    if view is None or (who.role is Role.REP and view["rep"] != who.subject):
        raise ApiError(404, ErrorCode.NOT_FOUND, "no such feedback")
    return web.json_response({"feedback": view})


async def rule(request: web.Request) -> web.Response:
    """POST /api/feedback/{id}/ruling and /appeal-ruling?team= — manager: {decision, reason}."""
    who = principal(request, Role.MANAGER)
    team = _team(request, who)
    ref = _ref(request.match_info["id"])
    body = await json_body(request)
    allowed = RULINGS if request.match_info["step"] == "ruling" else APPEAL_RULINGS
    decision, reason = _choice(body, "decision", allowed), _text(body, "reason")
    complaints = Complaints(request.app[ARBITER])
    step = await complaints.rule(team, ref, decision, f"manager:{who.subject}", reason)
    return _answer(step, {"feedback": await complaints.view(team, ref)})


async def appeal(request: web.Request) -> web.Response:
    """POST /api/feedback/{id}/appeal — the rep the complaint is against: {reason}."""
    who = principal(request, Role.REP)
    ref = _ref(request.match_info["id"])
    body = await json_body(request)
    _as_itself(body, who, "appeal")
    complaints = Complaints(request.app[ARBITER])
    step = await complaints.appeal(who.subject, ref, _text(body, "reason"))
    return _answer(step, {"feedback": await complaints.view(who.team or "", ref)})


async def file_dispute(request: web.Request) -> web.Response:
    """POST /api/leads/{id}/disputes — a rep disputes a lead another rep holds: {evidence}."""
    who = principal(request, Role.REP)
    body = await json_body(request)
    _as_itself(body, who, "dispute")
    ref = _ref(body.get("id") or uuid.uuid4().hex)
    disputes = Disputes(request.app[ARBITER])
    step = await disputes.file(who.subject, ref, _lead_id(request), _text(body, "evidence"))
    return _answer(step, {"dispute": await disputes.view(who.team or "", ref)}, created=201)


async def get_dispute(request: web.Request) -> web.Response:
    """GET /api/disputes/{id}?team= — a manager, or either rep of the dispute."""
    who = principal(request, Role.MANAGER, Role.REP)
    team = _team(request, who)
    view = await Disputes(request.app[ARBITER]).view(team, _ref(request.match_info["id"]))
    if view is None or (who.role is Role.REP and who.subject not in (view["rep"],
                                                                     view["holder"])):
        raise ApiError(404, ErrorCode.NOT_FOUND, "no such dispute")
    return web.json_response({"dispute": view})


async def resolve_dispute(request: web.Request) -> web.Response:
    """POST /api/disputes/{id}/ruling?team= — manager: {decision: keep|reassign, reason}."""
    who = principal(request, Role.MANAGER)
    team = _team(request, who)
    ref = _ref(request.match_info["id"])
    body = await json_body(request)
    decision, reason = _choice(body, "decision", DECISIONS), _text(body, "reason")
    disputes = Disputes(request.app[ARBITER])
    step = await disputes.resolve(team, ref, decision, f"manager:{who.subject}", reason)
    return _answer(step, {"dispute": await disputes.view(team, ref)})


def _as_itself(body: dict[str, Any], who: Principal, verb: str) -> None:
    """A rep acts only in its own name: a body naming another rep is refused."""
    if body.get("rep", who.subject) != who.subject:
        raise ApiError(403, ErrorCode.FORBIDDEN, f"a rep can only {verb} as itself")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/leads/{id}/feedback", post_feedback)
    app.router.add_get("/api/feedback/{id}", get_feedback)
    app.router.add_post(r"/api/feedback/{id}/{step:ruling|appeal-ruling}", rule)
    app.router.add_post("/api/feedback/{id}/appeal", appeal)
    app.router.add_post("/api/leads/{id}/disputes", file_dispute)
    app.router.add_get("/api/disputes/{id}", get_dispute)
    app.router.add_post("/api/disputes/{id}/ruling", resolve_dispute)
