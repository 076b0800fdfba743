"""A client worker process: connects its share of reps, runs them on cue, reports its tally."""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections.abc import Coroutine
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any, Literal

from loadtest import bench, machine
from loadtest.contention import Contention
from loadtest.rep import Crowd, RepClient
from loadtest.tally import Tally
from server.protocol import Codec

Role = Literal["live", "bench", "echo", "idle"]
PROGRESS_S = 0.5
POLL_S = 0.02
CLOSE_S = 10.0


@dataclass(frozen=True)
class WorkerPlan:
    """Everything one worker needs; pickled into the child process."""

    index: int
    role: Role
    url: str
    reps: list[tuple[int, str, str]]  # (global index, rep id, token)
    run_id: str
    contention: Contention
    codec: str
    compression: bool
    bench_leads: list[str]
    connect_concurrency: int
    connect_timeout_s: float
    warmup_s: float


def main(plan: WorkerPlan, outbox: Queue[Any], go: Event, stop: Event) -> None:
    """Process entry point: run the plan on uvloop when available; always report back."""
    machine.raise_nofile()
    try:
        tally = machine.run_async(_run(plan, outbox, go, stop))
        outbox.put(("result", plan.index, tally))
    except BaseException:
        outbox.put(("failed", plan.index, traceback.format_exc()))


async def _run(plan: WorkerPlan, outbox: Queue[Any], go: Event, stop: Event) -> Tally:
    crowd = Crowd(plan.url, plan.run_id, Codec(plan.codec), plan.compression,
                  plan.role != "echo", plan.contention, Tally(), plan.connect_timeout_s)
    clients = [RepClient(i, rep, token, crowd) for i, rep, token in plan.reps]
    opened = await _connect(clients, plan.connect_concurrency, outbox, plan.index)
    outbox.put(("connected", plan.index, crowd.tally.connected))
    await _wait(go)
    crowd.record_from = time.perf_counter() + plan.warmup_s
    tasks = [asyncio.create_task(_drive(plan, c)) for c in opened]
    await _report_until(stop, crowd.tally, outbox, plan.index)
    crowd.stopping = True
    await _finish(opened, tasks, plan.role in ("bench", "echo"))
    for client in opened:
        client.waiting.abandon()
    # A claim without a final answer: never answered, or `pending` and then nothing in time.
    crowd.tally.unanswered = sum(len(c.pending) for c in opened) + crowd.tally.window.missing
    return crowd.tally


async def _connect(clients: list[RepClient], concurrency: int, outbox: Queue[Any],
                   index: int) -> list[RepClient]:
    gate = asyncio.Semaphore(concurrency)

    async def one(client: RepClient) -> bool:
        async with gate:
            return await client.open()

    ticker = asyncio.create_task(_tick(outbox, index, lambda: ("connecting", index, sum(
        1 for c in clients if c.ws is not None))))
    try:
        ok = await asyncio.gather(*(one(c) for c in clients))
    finally:
        ticker.cancel()
    return [c for c, good in zip(clients, ok, strict=True) if good]


def _drive(plan: WorkerPlan, client: RepClient) -> Coroutine[Any, Any, None]:
    offset = client.index * len(plan.bench_leads) // plan.contention.reps
    if plan.role == "bench":
        return bench.claim_loop(client, plan.bench_leads, offset)
    if plan.role == "echo":
        return bench.echo_loop(client, plan.bench_leads, offset)
    return client.listen()


async def _tick(outbox: Queue[Any], index: int, message: Any) -> None:
    while True:
        await asyncio.sleep(PROGRESS_S)
        outbox.put(message())


async def _wait(event: Event) -> None:
    while not event.is_set():  # noqa: ASYNC110 - a process event has no awaitable form
        await asyncio.sleep(POLL_S)


async def _report_until(stop: Event, tally: Tally, outbox: Queue[Any], index: int) -> None:
    ticker = asyncio.create_task(_tick(outbox, index, lambda: (
        "progress", index, tally.answered, tally.fanout.count)))
    try:
        await _wait(stop)
    finally:
        ticker.cancel()


async def _finish(clients: list[RepClient], tasks: list[asyncio.Task[None]],
                  loops: bool) -> None:
    """Let closed loops finish their last claim, then close every socket."""
    if loops:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2):
                await asyncio.gather(*tasks, return_exceptions=True)
    closing = [asyncio.create_task(c.close()) for c in clients]
    if closing:
        await asyncio.wait(closing, timeout=CLOSE_S)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
