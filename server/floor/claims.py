"""One claim as both transports decide it: the arbiter's answer, its metrics, the window timer."""

from __future__ import annotations

import time

from aiohttp import web

from server import protocol
from server.contracts.reasons import Outcome
from server.contracts.results import ClaimResult
from server.protocol import Frame
from server.web.appkeys import ARBITER, METRICS, TIMERS


async def decide(app: web.Application, team: str, rep: str, lead_id: str, req_id: str,
                 transport: str) -> ClaimResult:
    """Claim as `rep`; count it; for a `pending` answer, settle the window when it closes."""
    started = time.perf_counter()
    result = await app[ARBITER].claim(rep, lead_id, req_id)
    elapsed_s = time.perf_counter() - started
    metrics = app[METRICS]
    metrics.claim_seconds.observe(elapsed_s)
    metrics.claim_decided(result.result, result.reason or "", transport, team)
    metrics.reps.claimed(rep, result.lead_id, result.result, result.reason)
    if result.result is Outcome.PENDING:
        # the window's end was computed mid-call (Redis time): half the call is behind us
        delay_ms = (result.retry_after_ms or 0) - int(elapsed_s * 500)
        app[TIMERS].schedule(team, result.lead_id, delay_ms)
    return result


def frame(result: ClaimResult) -> Frame:
    """The claim_result frame (or HTTP body) for a decision."""
    return protocol.claim_result(result.req_id, result.lead_id, result.result, result.reason,
                                 result.retry_after_ms)
