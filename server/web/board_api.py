"""The manager board: its page, the floor snapshot, the live feed socket, and team scopes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import WSMsgType, web

from server.fanout.board_feed import Board, BoardFeed, Cursor
from server.floor.floor_view import FloorView
from server.protocol import CloseCode, ErrorCode, error_body
from server.store.board_reads import BoardReads
from server.store.store import StoreError
from server.web.appkeys import ARBITER, AUTHORITY, BOARD_FEED, CONFIG, SCOREBOARD
from server.web.auth import AuthError, Principal, Role, parse_bearer
from server.web.errors import ApiError
from server.web.requests import principal
from server.web.ws import origin_allowed

log = logging.getLogger(__name__)
PAGE = Path(__file__).with_name("board")
HELLO_TIMEOUT_S = 10.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def page(request: web.Request) -> web.FileResponse:
    """GET /board — the manager board page (signed in by the token in the URL fragment)."""
    return web.FileResponse(PAGE / "board.html", headers={"Cache-Control": "no-cache"})


def visible_teams(request: web.Request, who: Principal) -> list[str]:
    """The configured teams this manager may see, or those named by ?team= (403 outside)."""
    teams = [t for t in request.app[ARBITER].config.teams if who.sees(t)]
    wanted = request.query.get("team")
    if wanted is None:
        return teams
    if wanted not in request.app[ARBITER].config.teams:
        raise ApiError(400, ErrorCode.BAD_FIELD, f"team: unknown team {wanted!r}")
    if wanted not in teams:
        raise ApiError(403, ErrorCode.FORBIDDEN, f"this token does not cover team {wanted!r}")
    return [wanted]


async def snapshot(request: web.Request) -> web.Response:
    """GET /api/board/snapshot[?team=] — each visible team's floor now, with its feed cursor."""
    who = principal(request, Role.MANAGER)
    view = request.app[BOARD_FEED].view
    body = {"teams": {team: await view.snapshot(team) for team in visible_teams(request, who)}}
    return web.json_response(body)


async def feed(request: web.Request) -> web.StreamResponse:
    """GET /api/board/feed — WebSocket: hello {token, resume?}, then snapshot/events."""
    if not origin_allowed(request):
        raise web.HTTPForbidden(text="origin not allowed")
    ws = web.WebSocketResponse(heartbeat=request.app[CONFIG].server.ping_interval_s,
                               max_msg_size=64 * 1024)
    await ws.prepare(request)
    hello = await _hello(request, ws)
    if hello is None:
        return ws
    teams, resume = hello
    board_feed = request.app[BOARD_FEED]
    try:
        board = await board_feed.open(teams, resume)
    except StoreError as exc:
        await _refuse(ws, ErrorCode.UNAVAILABLE, str(exc), CloseCode.SERVER_RESTART)
        return ws
    try:
        await _pump(ws, board)
    finally:
        board_feed.close(board)
    return ws


async def _refuse(ws: web.WebSocketResponse, code: ErrorCode, message: str,
                  close: CloseCode) -> None:
    with contextlib.suppress(Exception):
        await ws.send_json({"type": "error", **error_body(code, message)})
    await ws.close(code=close, message=message.encode()[:120])


async def _hello(request: web.Request, ws: web.WebSocketResponse,
                 ) -> tuple[frozenset[str], dict[str, Cursor] | None] | None:
    """The teams a manager hello may see and its resume cursors; refuses anything else."""
    try:
        msg = await asyncio.wait_for(ws.receive(), HELLO_TIMEOUT_S)
    except TimeoutError:
        await _refuse(ws, ErrorCode.NOT_AUTHENTICATED, "no hello before the deadline",
                      CloseCode.HELLO_TIMEOUT)
        return None
    if msg.type != WSMsgType.TEXT:
        return None
    try:
        frame = json.loads(msg.data)
        if not isinstance(frame, dict) or frame.get("type") != "hello":
            raise ValueError("the first message must be a hello")
        who = request.app[AUTHORITY].verify(str(frame.get("token", "")))
        if who.role is not Role.MANAGER:
            raise AuthError("the board feed needs a manager token")
        resume = frame.get("resume")
        if resume is not None and not isinstance(resume, dict):
            raise ValueError("resume: expected {team: {audit, presence}}")
    except AuthError as exc:
        await _refuse(ws, ErrorCode.AUTH_FAILED, exc.message, CloseCode.AUTH_FAILED)
        return None
    except ValueError as exc:
        await _refuse(ws, ErrorCode.BAD_FRAME, str(exc), CloseCode.PROTOCOL_ERROR)
        return None
    teams = frozenset(t for t in request.app[ARBITER].config.teams if who.sees(t))
    return teams, resume


async def _pump(ws: web.WebSocketResponse, board: Board) -> None:
    """Send the board's queue until either side closes; a board too slow is cut off."""
    reader = asyncio.create_task(_drain_input(ws))
    try:
        while not ws.closed and not reader.done():
            getter = asyncio.ensure_future(board.queue.get())
            await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                break
            message = getter.result()
            if message is None:
                await ws.close(code=CloseCode.SLOW_CONSUMER, message=b"board too slow")
                break
            await ws.send_str(json.dumps(message, separators=(",", ":")))
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def _drain_input(ws: web.WebSocketResponse) -> None:
    async for _ in ws:  # the board sends nothing after its hello; this notices the close
        pass


@web.middleware
async def scopes(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A manager token scoped to teams reaches no other team through any manager endpoint."""
    header = request.headers.get("Authorization")
    if header and request.path.startswith("/api/") and request.app.get(BOARD_FEED):
        with contextlib.suppress(AuthError):
            who = request.app[AUTHORITY].verify(parse_bearer(header))
            if who.role is Role.MANAGER and who.teams is not None:
                _check_scope(request, who)
    return await handler(request)


def _check_scope(request: web.Request, who: Principal) -> None:
    if request.path == "/api/config/reload":
        raise ApiError(403, ErrorCode.FORBIDDEN, "reloading every team needs an all-teams token")
    team = request.query.get("team")
    rep = request.match_info.get("id") if request.path.startswith("/api/reps/") else None
    if rep is not None:
        member = request.app[ARBITER].member(rep)
        team = member.team if member else team
    if team is None and not request.path.startswith("/api/board/"):
        teams = list(request.app[ARBITER].config.teams)
        team = teams[0] if len(teams) == 1 else None
        if team is None:
            raise ApiError(400, ErrorCode.BAD_FIELD, "team: required with a team-scoped token")
    if team is not None and not who.sees(team):
        raise ApiError(403, ErrorCode.FORBIDDEN, f"this token does not cover team {team!r}")


def running(app: web.Application) -> AsyncIterator[None]:
    """The board feed's tails, started after the arbiter (cleanup_ctx order)."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        arbiter = app[ARBITER]
        reads = BoardReads(arbiter.store)
        app[BOARD_FEED] = BoardFeed(FloorView(arbiter, reads, app[SCOREBOARD]), reads,
                                    arbiter.config.teams)
        app[BOARD_FEED].start()
        try:
            yield
        finally:
            await app[BOARD_FEED].stop()
    return ctx(app)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/board", page)
    app.router.add_static("/board/static/", PAGE)
    app.router.add_get("/api/board/snapshot", snapshot)
    app.router.add_get("/api/board/feed", feed)
    app.cleanup_ctx.append(running)
    app.middlewares.append(scopes)

