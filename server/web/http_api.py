"""HTTP endpoints: publish, claim, lead and rep state, reload, health and metrics."""

from __future__ import annotations

import uuid

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from server import protocol
from server.config import ConfigError, load_config
from server.floor.lead import LeadError, parse_lead
from server.floor.resources import audit_entry, lead_resource, outcomes, rep_of
from server.protocol import ErrorCode
from server.store.store import StoreError
from server.web.appkeys import ARBITER, CLAIMS, CONFIG_PATH, METRICS
from server.web.auth import Role
from server.web.errors import ApiError
from server.web.requests import json_body, principal, req_id, team_param


async def publish_lead(request: web.Request) -> web.Response:
    """POST /api/leads — integration or manager; the same id twice publishes once."""
    who = principal(request, Role.INTEGRATION, Role.MANAGER)
    try:
        lead = parse_lead(await json_body(request))
    except LeadError as exc:
        raise ApiError(400, ErrorCode.BAD_FIELD, str(exc)) from None
    arbiter = request.app[ARBITER]
    if lead.team not in arbiter.config.teams:
        raise ApiError(400, ErrorCode.BAD_FIELD, f"team: unknown team {lead.team!r}")
    if not who.sees(lead.team):
        raise ApiError(403, ErrorCode.FORBIDDEN, f"this token does not cover team {lead.team!r}")
    result = await arbiter.publish(lead, f"{who.role}:{who.subject}")
    request.app[METRICS].published.labels(str(result.created).lower()).inc()
    body = {"lead_id": result.lead_id, "seq": result.seq, "created": result.created}
    return web.json_response(body, status=201 if result.created else 200)


async def claim_lead(request: web.Request) -> web.Response:
    """POST /api/leads/{id}/claim — a rep claims as itself; same results as the WebSocket."""
    who = principal(request, Role.REP)
    body = await json_body(request)
    if body.get("rep", who.subject) != who.subject:
        raise ApiError(403, ErrorCode.FORBIDDEN, "a rep can only claim as itself")
    req = req_id(body.get("req_id") or request.headers.get("Idempotency-Key")
                 or uuid.uuid4().hex)
    result = await request.app[CLAIMS].decide(who.team or "", who.subject,
                                              request.match_info["id"], req, "http")
    return web.json_response(protocol.claim_result(result.req_id, result.lead_id, result.result,
                                                   result.reason, result.retry_after_ms))


async def lead_action(request: web.Request) -> web.Response:
    """POST /api/leads/{id}/release and /close — the holder only."""
    who = principal(request, Role.REP)
    arbiter, lead_id = request.app[ARBITER], request.match_info["id"]
    action = request.match_info["action"]
    if action == "release":
        result = await arbiter.release(who.subject, lead_id)
    else:
        outcome = (await json_body(request)).get("outcome")
        if outcome not in ("won", "lost"):
            raise ApiError(400, ErrorCode.BAD_FIELD, 'outcome: expected "won" or "lost"')
        result = await arbiter.close(who.subject, lead_id, outcome)
    return web.json_response(protocol.action_result(action, result),
                             status=200 if result.ok else 409)


async def get_lead(request: web.Request) -> web.Response:
    """GET /api/leads/{id}?team= — state and audit trail (manager, integration or team rep)."""
    who = principal(request, Role.MANAGER, Role.INTEGRATION, Role.REP)
    if who.role is Role.REP and request.query.get("team") not in (None, "", who.team):
        raise ApiError(403, ErrorCode.FORBIDDEN, "reps see their own team's leads only")
    team = team_param(request, who.team)
    lead_id = request.match_info["id"]
    view = await request.app[ARBITER].lead_state(team, lead_id)
    if not view:
        raise ApiError(404, ErrorCode.NOT_FOUND, "no such lead")
    trail = [audit_entry(e.pop("id"), e) for e in view["audit"]]
    lead = {**lead_resource(lead_id, team, view["lead"]),
            **await outcomes(request.app[ARBITER], team, lead_id=lead_id)}
    return web.json_response({"lead": lead, "audit": trail})


async def get_rep(request: web.Request) -> web.Response:
    """GET /api/reps/{id} — quota and cooldown state; the rep itself or a manager."""
    who = principal(request, Role.REP, Role.MANAGER)
    rep_id = request.match_info["id"]
    if who.role is Role.REP and who.subject != rep_id:
        raise ApiError(403, ErrorCode.FORBIDDEN, "a rep can only see its own state")
    rep = await rep_of(request.app[ARBITER], rep_id)
    if rep is None:
        raise ApiError(404, ErrorCode.NOT_FOUND, "no such rep")
    return web.json_response(rep)


async def reload_config(request: web.Request) -> web.Response:
    """POST /api/config/reload — manager; re-reads the config file and applies it atomically."""
    principal(request, Role.MANAGER)
    try:
        config = load_config(request.app[CONFIG_PATH])
    except ConfigError as exc:
        raise ApiError(400, ErrorCode.INVALID_CONFIG, str(exc)) from None
    loads = await request.app[ARBITER].apply_rules(config)
    return web.json_response({"teams": {x.team: {"version": x.version, "changed": x.changed}
                                        for x in loads}})


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz — 200 when Redis answers for every team, 503 otherwise."""
    try:
        await request.app[ARBITER].answering()
    except StoreError:  # its message may name the socket path or the URL: not for callers
        return web.json_response({"status": "unavailable", "redis": "not answering"},
                                 status=503)
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics — Prometheus text exposition."""
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/leads", publish_lead)
    app.router.add_post("/api/leads/{id}/claim", claim_lead)
    app.router.add_post(r"/api/leads/{id}/{action:release|close}", lead_action)
    app.router.add_get("/api/leads/{id}", get_lead)
    app.router.add_get("/api/reps/{id}", get_rep)
    app.router.add_post("/api/config/reload", reload_config)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
