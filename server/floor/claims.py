"""The claim use case both transports run: the arbiter's answer, its metrics, the window timer."""

from __future__ import annotations

import asyncio
import time

from server.contracts.reasons import Outcome
from server.contracts.results import ClaimResult
from server.floor.arbiter import Arbiter
from server.floor.timers import Timers
from server.metrics import Metrics


class Claims:
    """Decides claims for either transport; built once at start-up with its collaborators."""

    def __init__(self, arbiter: Arbiter, metrics: Metrics, timers: Timers) -> None:
        self.arbiter, self.metrics, self.timers = arbiter, metrics, timers

    async def decide(self, team: str, rep: str, lead_id: str, req_id: str,
                     transport: str) -> ClaimResult:
        """Claim as `rep` and count it (`start`, then `record`)."""
        started = time.perf_counter()
        result = await self.start(rep, lead_id, req_id)
        self.record(team, rep, result, started, transport)
        return result

    def start(self, rep: str, lead_id: str, req_id: str) -> asyncio.Future[ClaimResult]:
        """Claim as `rep`: the arbiter's answer, to `record` once it is in."""
        return self.arbiter.claim(rep, lead_id, req_id)

    def record(self, team: str, rep: str, result: ClaimResult, started: float,
               transport: str) -> None:
        """Count a claim started at `started` (perf_counter); for a `pending` answer, settle
        the window when it closes."""
        elapsed_s = time.perf_counter() - started
        self.metrics.claim_seconds.observe(elapsed_s)
        self.metrics.claim_decided(result.result, result.reason or "", transport, team)
        self.metrics.reps.claimed(rep, result.lead_id, result.result, result.reason)
        if result.result is Outcome.PENDING:
            # the window's end was computed mid-call (Redis time): half the call is behind us
            delay_ms = (result.retry_after_ms or 0) - int(elapsed_s * 500)
            self.timers.schedule(team, result.lead_id, delay_ms)
