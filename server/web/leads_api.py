"""GET /api/leads: the public pool as pages, filtered; a rep sees only what they may see."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from server.floor.pool import LeadQuery, parse_cursor
from server.protocol import ErrorCode
from server.web.appkeys import ARBITER
from server.web.auth import Principal, Role
from server.web.errors import ApiError
from server.web.requests import principal, team_param

LIMIT_MAX = 200
PARAMS = ("team", "state", "region", "skill", "min_value", "priority", "older_than_ms",
          "customer", "limit", "cursor")
NUMBER = re.compile(r"^\d{1,15}(\.\d{1,6})?$")
INTEGER = re.compile(r"^\d{1,15}$")
ENTRY_ID = re.compile(r"^\d{1,15}-\d{1,19}$")


def _bad(param: str, message: str) -> ApiError:
    return ApiError(400, ErrorCode.BAD_FIELD, f"{param}: {message}")


def _number(request: web.Request, name: str, pattern: re.Pattern[str],
            convert: Callable[[str], Any]) -> Any:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not pattern.match(raw):
        raise _bad(name, f"expected a non-negative number (got {raw!r})")
    return convert(raw)


def _query(request: web.Request, who: Principal) -> LeadQuery:
    """The filters of a GET /api/leads request, validated; 400 naming the first bad one."""
    for name in request.query:
        if name not in PARAMS:
            raise _bad(name, f"unknown parameter (expected: {', '.join(PARAMS)})")
    if who.role is Role.REP and request.query.get("team") not in (None, "", who.team):
        raise ApiError(403, ErrorCode.FORBIDDEN, "reps see their own team's leads only")
    state = request.query.get("state", "open")
    allowed = ("open",) if who.role is Role.REP else ("open", "held", "recent")
    if state not in allowed:
        raise _bad("state", f"expected one of: {', '.join(allowed)} (got {state!r})")
    limit = _number(request, "limit", INTEGER, int) or 50
    cursor = request.query.get("cursor")
    if cursor is not None:
        _check_cursor(state, cursor)
    team = team_param(request, who.team)
    if not who.sees(team):  # a manager token scoped to other teams
        raise ApiError(403, ErrorCode.FORBIDDEN, f"this token does not cover team {team!r}")
    return LeadQuery(
        team=team, state=state,
        region=request.query.get("region"), skill=request.query.get("skill"),
        min_value=_number(request, "min_value", NUMBER, float),
        priority=_number(request, "priority", INTEGER, int),
        older_than_ms=_number(request, "older_than_ms", INTEGER, int),
        customer=request.query.get("customer"), limit=min(limit, LIMIT_MAX), cursor=cursor)


def _check_cursor(state: str, cursor: str) -> None:
    """A cursor of the kind `state` pages by: '<ms>:<id>' (open), an audit entry id (recent),
    a lead id (held)."""
    if state == "open":
        try:
            parse_cursor(cursor)
        except ValueError as exc:
            raise _bad("cursor", str(exc)) from None
    elif state == "recent" and not ENTRY_ID.match(cursor):
        raise _bad("cursor", "expected the next_cursor of a previous page")


async def list_leads(request: web.Request) -> web.Response:
    """GET /api/leads?team=&state=&region=&skill=&min_value=&priority=&older_than_ms=
    &customer=&limit=&cursor= — newest first; next_cursor continues (null at the end)."""
    who = principal(request, Role.REP, Role.MANAGER)
    query = _query(request, who)
    arbiter = request.app[ARBITER]
    viewer = arbiter.member(who.subject) if who.role is Role.REP else None
    if who.role is Role.REP and viewer is None:
        raise ApiError(403, ErrorCode.FORBIDDEN, f"rep {who.subject!r} is not on the roster")
    reps = sorted(m.id for m in arbiter.roster.members.values() if m.team == query.team)
    leads, nxt = await arbiter.browse_pool(query, viewer, reps)
    return web.json_response({"team": query.team, "state": query.state, "leads": leads,
                              "next_cursor": nxt})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/leads", list_leads)
