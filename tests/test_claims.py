"""The claim use case without a transport: built from its collaborators, it decides, counts,
and schedules the window's settlement."""

from __future__ import annotations

import asyncio

from server.contracts.reasons import Outcome, Reason
from server.floor.claims import Claims
from server.floor.timers import Timers
from server.metrics import Metrics
from server.store.store import Store
from tests.clock import ManualClock
from tests.test_policies import arbiter_for, publish
from tests.test_window import window_config

WINDOW_MS = 20


def counted(metrics: Metrics, result: str, reason: str = "") -> float:
    value = metrics.registry.get_sample_value(
        "leadgrab_claims_total",
        {"result": result, "reason": reason, "transport": "test", "team": "north"})
    return value or 0.0


async def test_a_pending_claim_is_counted_and_its_window_settled(store: Store,
                                                                  clock: ManualClock) -> None:
    arbiter = await arbiter_for(store, window_config(reps=2).replace("window_ms = 3000",
                                                                     f"window_ms = {WINDOW_MS}"))
    metrics = Metrics()
    settled: list[tuple[str, str]] = []
    timers = Timers(arbiter, ["north"], metrics, lambda team, lead, _: settled.append((team,
                                                                                       lead)))
    claims = Claims(arbiter, metrics, timers)
    await publish(arbiter, "L1")
    result = await claims.decide("north", "r0", "L1", "q0", "test")
    assert (result.result, result.retry_after_ms) == (Outcome.PENDING, WINDOW_MS)
    assert ("north", "L1") in timers.scheduled
    assert counted(metrics, "pending") == 1
    clock.advance(WINDOW_MS)  # the scripts' time; the local schedule waits as long for real
    async with asyncio.timeout(5):
        while not settled:
            await asyncio.sleep(0.005)
    assert settled == [("north", "L1")] and not timers.scheduled


async def test_an_unknown_rep_is_rejected_and_counted(store: Store) -> None:
    arbiter = await arbiter_for(store, window_config(reps=1))
    metrics = Metrics()
    claims = Claims(arbiter, metrics, Timers(arbiter, ["north"], metrics))
    result = await claims.decide("north", "nobody", "L1", "q", "test")
    assert (result.result, result.reason) == (Outcome.REJECTED, Reason.INELIGIBLE)
    assert counted(metrics, "rejected", "ineligible") == 1
