"""A rep's claims over the WebSocket, answered from the callback of Redis' reply.

The read loop sends a claim to the arbiter and goes back to reading: the answer is written
when the reply comes in, with no wake of the read loop's task for it. Frames are still
handled in order: a frame that arrives while the rep's claim is in flight waits until that
claim has been answered (`in_turn`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

from aiohttp import web

from server import protocol
from server.contracts.results import ClaimResult
from server.fanout.connection import Connection
from server.protocol import Claim, ErrorCode, ProtocolError
from server.store.store import StoreError
from server.web.appkeys import CLAIMS, METRICS

log = logging.getLogger(__name__)


def start(app: web.Application, conn: Connection, frame: Claim) -> None:
    """Send the claim on its way; its answer goes out when Redis replies."""
    if frame.rep is not None and frame.rep != conn.rep:
        raise ProtocolError(ErrorCode.FORBIDDEN, "a rep can only claim as itself")
    decided = app[CLAIMS].start(conn.rep, frame.lead_id, frame.req_id)
    conn.claiming = decided
    decided.add_done_callback(partial(_answer, app, conn, frame, time.perf_counter()))


async def in_turn(conn: Connection) -> None:
    """Wait until the rep's claim in flight, if any, has been answered."""
    if conn.claiming is not None:
        await asyncio.wait({conn.claiming})


def _answer(app: web.Application, conn: Connection, frame: Claim, started: float,
            decided: asyncio.Future[ClaimResult]) -> None:
    if conn.claiming is decided:
        conn.claiming = None
    if decided.cancelled():
        return
    try:
        result = decided.result()
        app[CLAIMS].record(conn.team, conn.rep, result, started, "ws")
        conn.send_frame(protocol.claim_result(result.req_id, result.lead_id, result.result,
                                              result.reason, result.retry_after_ms))
    except StoreError as exc:
        app[METRICS].redis_errors.inc()
        log.warning("request from %s failed: %s", conn.rep, exc)
        conn.send_frame(unavailable(frame))
    except Exception:  # a bug: logged with its traceback; the frame is answered
        log.exception("frame from %s failed", conn.rep)
        conn.send_frame(protocol.error(ErrorCode.INTERNAL, "internal error"))


def unavailable(frame: protocol.ClientFrame | None) -> protocol.Frame:
    """The temporary error for a request Redis could not serve; a claim's names its req_id."""
    error = protocol.error(ErrorCode.UNAVAILABLE,
                           "Redis is unavailable; retry with the same req_id")
    if isinstance(frame, Claim):
        error.update(req_id=frame.req_id, lead_id=frame.lead_id)
    return error
