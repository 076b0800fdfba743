"""The WebSocket endpoint: hello, welcome, resume, then claims in and frames out (v1)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import WSMsgType, web

from server import protocol
from server.contracts.results import ActionResult
from server.fanout import catchup as feed
from server.fanout.connection import Connection
from server.fanout.hub import seq_key
from server.floor.roster import Member
from server.metrics import Metrics
from server.protocol import (
    Claim,
    Close,
    CloseCode,
    Codec,
    ErrorCode,
    Followup,
    Hello,
    Pause,
    ProtocolError,
    Release,
    Resume,
)
from server.store.store import StoreError
from server.web import claim_answers
from server.web.appkeys import (
    ARBITER,
    AUTHORITY,
    BOARD_FEED,
    CONFIG,
    HUB,
    METRICS,
    RETURNS,
    SOCKETS,
)
from server.web.auth import AuthError, Principal, Role
from server.web.socket_sink import CLOSE_TIMEOUT_S, SocketSink

log = logging.getLogger(__name__)
HEARTBEAT_LOST = "1006"  # the disconnects label of a peer that stopped answering pings
INTERNAL_ERROR = 1011  # RFC 6455: the server met a condition it did not expect


def origin_allowed(request: web.Request) -> bool:
    """Browsers send Origin: the server's own (the rep console) or an allow-listed one.
    Non-browser clients send none."""
    origin = request.headers.get("Origin")
    if origin is None or origin in request.app[CONFIG].server.allowed_origins:
        return True
    return origin == f"{request.scheme}://{request.host}"


async def handle(request: web.Request) -> web.StreamResponse:
    """GET /ws."""
    if not origin_allowed(request):
        raise web.HTTPForbidden(text="origin not allowed")
    settings = request.app[CONFIG].server
    ws = web.WebSocketResponse(protocols=protocol.SUBPROTOCOLS, heartbeat=settings.ping_interval_s,
                               max_msg_size=settings.max_frame_bytes, timeout=CLOSE_TIMEOUT_S,
                               compress=False)
    await ws.prepare(request)
    codec = Codec.for_subprotocol(ws.ws_protocol)
    request.app[SOCKETS].add(ws)
    try:
        hello = await _await_hello(request, ws, codec)
        if hello is not None:
            await _session(request, ws, codec, *hello)
    except Exception:  # a bug: logged, and a close frame, never an HTTP 500 into the socket
        log.exception("WebSocket session failed")
        await SocketSink(ws).close(INTERNAL_ERROR, "internal error")
    finally:
        request.app[SOCKETS].discard(ws)
    return ws


async def _refuse(ws: web.WebSocketResponse, codec: Codec, code: ErrorCode, message: str,
                  close: CloseCode) -> None:
    with contextlib.suppress(Exception):
        frame = protocol.encode(protocol.error(code, message), codec)
        await SocketSink(ws).send(frame)
    await SocketSink(ws).close(close, message)


async def _await_hello(request: web.Request, ws: web.WebSocketResponse,
                       codec: Codec) -> tuple[Member, float, Hello] | None:
    timeout_s = request.app[CONFIG].server.hello_timeout_ms / 1000
    try:
        msg = await asyncio.wait_for(ws.receive(), timeout_s)
    except TimeoutError:
        await _refuse(ws, codec, ErrorCode.NOT_AUTHENTICATED, "no hello before the deadline",
                      CloseCode.HELLO_TIMEOUT)
        return None
    if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
        return None
    try:
        frame = protocol.decode_client(msg.data, codec)
        if not isinstance(frame, Hello):
            raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "the first frame must be a hello")
        return (*_authenticate(request, frame), frame)
    except ProtocolError as exc:
        request.app[METRICS].protocol_errors.labels(str(exc.code)).inc()
        await _refuse(ws, codec, exc.code, exc.message, CloseCode.PROTOCOL_ERROR)
    except AuthError as exc:
        request.app[METRICS].protocol_errors.labels(ErrorCode.AUTH_FAILED).inc()
        await _refuse(ws, codec, ErrorCode.AUTH_FAILED, exc.message, CloseCode.AUTH_FAILED)
    return None


def _authenticate(request: web.Request, hello: Hello) -> tuple[Member, float]:
    """The rep a hello's token speaks for, and until when (Unix seconds) the token holds."""
    principal: Principal = request.app[AUTHORITY].verify(hello.token)
    if principal.role is not Role.REP:
        raise AuthError("the WebSocket is for reps: use a rep token")
    member = request.app[ARBITER].roster.get(principal.subject)
    if member is None or member.team != principal.team:
        raise AuthError(f"rep {principal.subject!r} is not on team {principal.team!r}'s roster")
    return member, principal.valid_until_s


async def _session(request: web.Request, ws: web.WebSocketResponse, codec: Codec,
                   member: Member, valid_until_s: float, hello: Hello) -> None:
    app = request.app
    # request.transport: asyncio's, or uvloop's (not an asyncio.Transport subclass)
    conn = Connection(member.id, member.team, codec, SocketSink(ws, request.transport),
                      app[CONFIG].server.send_queue_frames, app[METRICS])
    conn.replaying = True
    app[HUB].add(conn)
    if BOARD_FEED in app:
        app[BOARD_FEED].presence(member.team, member.id, +1)
    writer = asyncio.create_task(conn.run_writer())
    # a session lasts as long as its token: past it, the same token would be refused
    expiry = asyncio.get_running_loop().call_later(max(valid_until_s - time.time(), 0.0),
                                                   _expire, conn)
    try:
        await _start(request, conn, member, hello)
        # on a task of its own: a frame wakes the read loop's two frames, not also the
        # eight of aiohttp's handler and the middlewares above it (twice per claim)
        await asyncio.get_running_loop().create_task(_read_loop(request, ws, conn))
    except StoreError as exc:
        log.warning("closing %s: %s", member.id, exc)
        conn.send_frame(protocol.error(ErrorCode.UNAVAILABLE, "Redis is unavailable; reconnect"))
        conn.disconnect(CloseCode.SERVER_RESTART, "store unavailable")
    finally:
        expiry.cancel()
        app[HUB].remove(conn)
        if BOARD_FEED in app:
            app[BOARD_FEED].presence(member.team, member.id, -1)
        await _drain(conn, writer)


def _expire(conn: Connection) -> None:
    conn.send_frame(protocol.error(ErrorCode.AUTH_FAILED,
                                   "the token expired: reconnect with a new token"))
    conn.disconnect(CloseCode.AUTH_FAILED, "token expired")


async def _drain(conn: Connection, writer: asyncio.Task[None]) -> None:
    """Give queued frames (e.g. a final error) a moment to go out, then stop the writer."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1):
            await conn.flushed()
    writer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await writer


async def _start(request: web.Request, conn: Connection, member: Member, hello: Hello) -> None:
    arbiter, hub = request.app[ARBITER], request.app[HUB]
    welcome = await feed.welcome(arbiter, member)
    conn.send_frame(welcome)
    hub.limits[conn] = dict(member.limits)
    if hello.resume is None:
        # the client's resume point until it sees a live entry (clients/connection.py)
        await _send_pool(request, conn, member, f"{welcome['server_time_ms'] - 1}-0")
        await request.app[RETURNS].joined(conn, member, None, [])
        return
    missed = await feed.missed(arbiter, member.team, hello.resume)
    if missed.gap:
        conn.send_frame(protocol.gap(hello.resume, missed.first_available))
    count = await hub.replay(conn, missed.entries)
    conn.send_frame(protocol.resumed(count))
    await request.app[RETURNS].joined(conn, member, hello.resume, missed.entries)


async def _send_pool(request: web.Request, conn: Connection, member: Member,
                     base: str) -> None:
    """The pool snapshot, then live entries, each lead once, split at `base`: the snapshot
    shows the open leads offered up to it (a late live copy of those entries is dropped),
    entries after it are sent as on a resume from it. A client that reconnects resuming
    from `base` is sent neither twice."""
    arbiter, hub = request.app[ARBITER], request.app[HUB]
    until = seq_key(base)
    frames = await feed.snapshot(arbiter, member, request.app[CONFIG].server.pool_snapshot_max)
    for frame in frames:
        if seq_key(frame["seq"]) <= until:
            await conn.put(protocol.encode(frame, conn.codec))
    conn.last_seq = max(conn.last_seq, until)
    await hub.replay(conn, (await feed.missed(arbiter, member.team, base)).entries)


async def _read_loop(request: web.Request, ws: web.WebSocketResponse, conn: Connection) -> None:
    app = request.app
    metrics = app[METRICS]
    async for msg in ws:
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            break
        if conn.claiming is not None:  # a client that does not wait: frames in order
            await claim_answers.in_turn(conn)
        frame: protocol.ClientFrame | None = None
        try:
            frame = protocol.decode_client(msg.data, conn.codec)
            if type(frame) is Claim:  # the common frame: answered when Redis replies
                claim_answers.start(app, conn, frame)
            else:
                await _dispatch(request, conn, frame)
        except ProtocolError as exc:
            metrics.protocol_errors.labels(str(exc.code)).inc()
            conn.send_frame(exc.frame())
        except StoreError as exc:
            metrics.redis_errors.inc()
            log.warning("request from %s failed: %s", conn.rep, exc)
            conn.send_frame(claim_answers.unavailable(frame))
        except Exception:  # a bug: logged with its traceback; the frame is answered
            log.exception("frame from %s failed", conn.rep)
            conn.send_frame(protocol.error(ErrorCode.INTERNAL, "internal error"))
    _count_end(ws, conn, metrics)


def _count_end(ws: web.WebSocketResponse, conn: Connection, metrics: Metrics) -> None:
    """Count why a session's reading ended, when the peer did not close it cleanly."""
    if ws.close_code == CloseCode.MESSAGE_TOO_BIG:
        metrics.protocol_errors.labels(ErrorCode.TOO_LARGE).inc()
    if isinstance(ws.exception(), TimeoutError) and not conn.closed.is_set():
        conn.closed.set()  # no pong within the heartbeat: aiohttp dropped it without a Close
        metrics.disconnects.labels(HEARTBEAT_LOST).inc()
        if isinstance(conn.sink, SocketSink):
            conn.sink.cut_off()


async def _dispatch(request: web.Request, conn: Connection, frame: protocol.ClientFrame) -> None:
    arbiter = request.app[ARBITER]
    if isinstance(frame, Release):
        result = await arbiter.release(conn.rep, frame.lead_id)
        conn.send_frame(protocol.action_result("release", result))
    elif isinstance(frame, Close):
        result = await arbiter.close(conn.rep, frame.lead_id, frame.outcome)
        conn.send_frame(protocol.action_result("close", result))
    elif isinstance(frame, Followup):
        result = await arbiter.followup(conn.rep, frame.lead_id, frame.note or "")
        conn.send_frame(protocol.action_result("followup", result))
    elif isinstance(frame, Pause | Resume):
        done = await arbiter.pause(conn.rep, isinstance(frame, Pause), conn.rep)
        conn.send_frame(protocol.action_result(frame.TYPE, ActionResult("", done.ok)))
    else:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"{frame.TYPE} is not accepted here")
