"""HTTP endpoints of the floor policies: follow-ups, pauses, manager dispatch and withdrawal."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from server import protocol
from server.contracts.results import Done
from server.contracts.statuses import Status
from server.protocol import ErrorCode
from server.protocol.limits import NOTE_CHARS, REP_ID_RULE, TEXT, is_rep_id
from server.web.appkeys import ARBITER
from server.web.auth import Role
from server.web.errors import ApiError
from server.web.requests import json_body, principal, team_param

_TEXT = re.compile(TEXT)


def _text(body: dict[str, Any], name: str, limit: int = NOTE_CHARS) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit or not _TEXT.match(value):
        raise ApiError(400, ErrorCode.BAD_FIELD, f"{name}: expected text of at most "
                       f"{limit} characters (no control characters but tab and line breaks)")
    return value


def _done(done: Done) -> web.Response:
    status = 200 if done.ok else (409 if done.status is Status.REJECTED else 503)
    body = {"ok": done.ok, "status": done.status}
    body["reason" if not done.ok else "detail"] = done.detail
    return web.json_response(body, status=status)


async def followup(request: web.Request) -> web.Response:
    """POST /api/leads/{id}/followup — the holder records progress ({note}); deadlines move."""
    who = principal(request, Role.REP)
    note = _text(await json_body(request), "note")
    result = await request.app[ARBITER].followup(who.subject, request.match_info["id"], note)
    return web.json_response(protocol.action_result("followup", result),
                             status=200 if result.ok else 409)


async def pause(request: web.Request) -> web.Response:
    """POST /api/reps/{id}/pause and /resume — the rep itself or a manager."""
    who = principal(request, Role.REP, Role.MANAGER)
    rep_id = request.match_info["id"]
    if who.role is Role.REP and who.subject != rep_id:
        raise ApiError(403, ErrorCode.FORBIDDEN, "a rep can only pause itself")
    actor = rep_id if who.role is Role.REP else f"manager:{who.subject}"
    paused = request.match_info["action"] == "pause"
    return _done(await request.app[ARBITER].pause(rep_id, paused, actor))


async def dispatch(request: web.Request) -> web.Response:
    """POST /api/leads/{id}/dispatch?team= — manager: {rep, force?, reason?} (派单/改派)."""
    who = principal(request, Role.MANAGER)
    body = await json_body(request)
    rep, force = body.get("rep"), body.get("force", False)
    if not is_rep_id(rep) or not isinstance(force, bool):
        raise ApiError(400, ErrorCode.BAD_FIELD,
                       f"rep: required, {REP_ID_RULE}; force: true or false")
    assert isinstance(rep, str)
    done = await request.app[ARBITER].dispatch(
        team_param(request), request.match_info["id"], rep, f"manager:{who.subject}",
        force=force, reason=_text(body, "reason"))
    return _done(done)


async def withdraw(request: web.Request) -> web.Response:
    """POST /api/leads/{id}/withdraw?team= — manager: {reason?}; nobody may claim it after."""
    who = principal(request, Role.MANAGER)
    reason = _text(await json_body(request), "reason")
    done = await request.app[ARBITER].withdraw(team_param(request), request.match_info["id"],
                                               f"manager:{who.subject}", reason)
    return _done(done)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/leads/{id}/followup", followup)
    app.router.add_post(r"/api/reps/{id}/{action:pause|resume}", pause)
    app.router.add_post("/api/leads/{id}/dispatch", dispatch)
    app.router.add_post("/api/leads/{id}/withdraw", withdraw)
