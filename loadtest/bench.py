"""The closed loop of the claim benchmark and its echo twin: send one frame, await its answer."""

from __future__ import annotations

import time

from loadtest.rep import RepClient


async def claim_loop(client: RepClient, leads: list[str], offset: int) -> None:
    """Claim leads in turn (starting at `offset`), one at a time, until the run stops."""
    k = offset
    while not client.crowd.stopping:
        req_id = client.send_claim(leads[k % len(leads)])
        k += 1
        while req_id in client.pending:
            assert client.ws is not None
            client.on_frame(await client.ws.recv())


async def echo_loop(client: RepClient, leads: list[str], offset: int) -> None:
    """The transport ceiling: the same claim frames, answered by an echo server."""
    assert client.ws is not None
    tally, k = client.crowd.tally, offset
    while not client.crowd.stopping:
        req_id = client.send_claim(leads[k % len(leads)])
        k += 1
        await client.ws.recv()
        started = client.pending.pop(req_id)
        if client.crowd.recording():
            tally.claim.record_us((time.perf_counter() - started) * 1e6)
        tally.results["echoed"] += 1
