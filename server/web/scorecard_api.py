"""HTTP endpoints of the scorecard: a rep's card, a team's cards, and a manager's tier pin."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.floor.scorecard import Card
from server.protocol import ErrorCode
from server.web.appkeys import ARBITER, SCORECARDS, TIER_DESK
from server.web.auth import Principal, Role
from server.web.errors import ApiError
from server.web.requests import json_body, principal, team_param


def _team_of(request: web.Request, who: Principal, rep_id: str) -> str:
    """The rep's team, if the caller may see the rep: the rep itself, or a manager whose
    scope holds the rep's team (404 for an unknown rep, 403 otherwise)."""
    member = request.app[ARBITER].member(rep_id)
    if member is None:
        raise ApiError(404, ErrorCode.NOT_FOUND, "no such rep")
    if who.role is Role.REP and who.subject != rep_id:
        raise ApiError(403, ErrorCode.FORBIDDEN, "a rep can only see its own scorecard")
    if not who.sees(member.team):
        raise ApiError(403, ErrorCode.FORBIDDEN, f"team {member.team} is outside your scope")
    return member.team


async def _bodies(request: web.Request, team: str, cards: list[Card]) -> list[dict[str, Any]]:
    fields = await request.app[TIER_DESK].fields(team)
    return [{**card.body(), "earned_tier": fields.get(f"earned:{card.rep}"),
             "pinned_tier": fields.get(f"pin:{card.rep}")} for card in cards]


async def rep_scorecard(request: web.Request) -> web.Response:
    """GET /api/reps/{id}/scorecard — the rep itself, or a manager of its team."""
    who = principal(request, Role.REP, Role.MANAGER)
    rep_id = request.match_info["id"]
    team = _team_of(request, who, rep_id)
    cards = await request.app[SCORECARDS].cards(team, [rep_id])
    return web.json_response((await _bodies(request, team, cards))[0])


async def team_scorecards(request: web.Request) -> web.Response:
    """GET /api/scorecards?team= — manager: every rep of the team, best score first."""
    who = principal(request, Role.MANAGER)
    team = team_param(request)
    if not who.sees(team):
        raise ApiError(403, ErrorCode.FORBIDDEN, f"team {team} is outside your scope")
    cards = sorted(await request.app[SCORECARDS].cards(team), key=lambda c: (-c.score, c.rep))
    return web.json_response({"team": team, "scorecards": await _bodies(request, team, cards)})


async def pin_tier(request: web.Request) -> web.Response:
    """POST /api/reps/{id}/tier — manager: {"tier": name} pins the rep's tier (the schedule
    leaves it), {"tier": null} unpins it (the earned or configured tier applies again)."""
    who = principal(request, Role.MANAGER)
    rep_id = request.match_info["id"]
    _team_of(request, who, rep_id)
    body = await json_body(request)
    tier = body.get("tier")
    known = request.app[ARBITER].config.tiers
    if "tier" not in body or not (tier is None or (isinstance(tier, str) and tier in known)):
        raise ApiError(400, ErrorCode.BAD_FIELD, "tier: expected null (unpin) or one of: "
                       f"{', '.join(sorted(known)) or 'no tiers configured'}")
    change = await request.app[TIER_DESK].change(
        rep_id, "pin", tier, f"manager:{who.subject}", "pinned" if tier else "unpinned")
    return web.json_response({"rep": rep_id, "tier": change.tier, "prev": change.prev,
                              "pinned": tier is not None,
                              "rules_version": change.rules_version})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/reps/{id}/scorecard", rep_scorecard)
    app.router.add_get("/api/scorecards", team_scorecards)
    app.router.add_post("/api/reps/{id}/tier", pin_tier)
