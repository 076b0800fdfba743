"""What a request carries: the caller's principal, its JSON body and the team it names."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from server.protocol import ErrorCode
from server.protocol.limits import REQ_ID_RULE, is_req_id, wire_problem
from server.web.appkeys import ARBITER, AUTHORITY
from server.web.auth import AuthError, Principal, Role, parse_bearer
from server.web.errors import ApiError

MAX_BODY_BYTES = 64 * 1024


def principal(request: web.Request, *roles: Role) -> Principal:
    """The caller's verified principal; 401 without a valid token, 403 for another role."""
    try:
        who = request.app[AUTHORITY].verify(parse_bearer(request.headers.get("Authorization")))
    except AuthError as exc:
        raise ApiError(401, ErrorCode.AUTH_FAILED, exc.message) from None
    if who.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        article = "an" if allowed[0] in "aeiou" else "a"
        raise ApiError(403, ErrorCode.FORBIDDEN, f"this endpoint needs {article} {allowed} token")
    return who


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body (empty allowed), size-limited."""
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, ErrorCode.TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ApiError(400, ErrorCode.BAD_JSON, "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, ErrorCode.BAD_JSON, "body must be a JSON object")
    problem = wire_problem(body, "body")
    if problem:
        raise ApiError(400, ErrorCode.BAD_FIELD, problem)
    return body


def req_id(value: object) -> str:
    """A claim's req_id (from the body or the Idempotency-Key header), checked."""
    if not is_req_id(value):
        raise ApiError(400, ErrorCode.BAD_FIELD, f"req_id: expected {REQ_ID_RULE}")
    assert isinstance(value, str)
    return value


def team_param(request: web.Request, default: str | None = None) -> str:
    """The `?team=` parameter, else `default`, else the only configured team; 400 otherwise."""
    teams = list(request.app[ARBITER].config.teams)
    team = request.query.get("team") or default or (teams[0] if len(teams) == 1 else "")
    if team not in teams:
        raise ApiError(400, ErrorCode.BAD_FIELD,
                       f"team: expected one of: {', '.join(teams)} (got {team!r})")
    return team
