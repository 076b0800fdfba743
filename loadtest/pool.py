"""The client worker processes of one phase: start, connect, go, run, stop and collect."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from loadtest import progress, worker
from loadtest.tally import Tally
from loadtest.worker import WorkerPlan

GET_S = 0.1
JOIN_S = 5.0


class PoolError(Exception):
    """A worker process failed or did not answer in time."""


class Pool:
    """Worker processes driven through one phase, with progress on stderr."""

    def __init__(self, plans: list[WorkerPlan], label: str, quiet: bool = False) -> None:
        ctx = mp.get_context("spawn")
        self.outbox: Any = ctx.Queue()
        self.go, self.stop = ctx.Event(), ctx.Event()
        self.procs = [ctx.Process(target=worker.main, args=(plan, self.outbox, self.go, self.stop),
                                  daemon=True, name=f"loadtest-{label}-{plan.index}")
                      for plan in plans]
        self.label, self.quiet = label, quiet
        self.expected = sum(len(plan.reps) for plan in plans)
        self.opening: dict[int, int] = {}
        self.connected: dict[int, int] = {}
        self.progress: dict[int, tuple[int, int]] = {}
        self.tallies: dict[int, Tally] = {}

    async def __aenter__(self) -> Pool:
        for proc in self.procs:
            proc.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.stop.set()
        deadline = time.monotonic() + JOIN_S
        for proc in self.procs:
            await asyncio.to_thread(proc.join, max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                await asyncio.to_thread(proc.join, 1.0)

    def pids(self) -> list[int]:
        """The worker processes' ids."""
        return [proc.pid for proc in self.procs if proc.pid is not None]

    async def connect(self, timeout_s: float) -> int:
        """Wait until every worker has opened its connections; returns how many are open."""
        with self._bar(self.expected, "conns") as bar:
            def update() -> bool:
                bar.n = sum({**self.opening, **self.connected}.values())
                bar.refresh()
                return len(self.connected) == len(self.procs)
            await self._pump(update, timeout_s, "connecting")
        return sum(self.connected.values())

    async def run(self, seconds: float) -> float:
        """Start the workers and let them run for `seconds`; returns the go time."""
        self.go.set()
        started = time.monotonic()
        with self._bar(round(seconds, 1), "s") as bar:
            def update() -> bool:
                elapsed = time.monotonic() - started
                bar.n = round(min(elapsed, seconds), 1)
                answered = sum(a for a, _ in self.progress.values())
                bar.set_postfix(claims=answered, receipts=sum(r for _, r in self.progress.values()))
                return elapsed >= seconds
            await self._pump(update, seconds + 60, "running")
        return started

    async def collect(self, timeout_s: float = 60) -> Tally:
        """Stop the workers and merge their tallies."""
        self.stop.set()
        await self._pump(lambda: len(self.tallies) == len(self.procs), timeout_s, "stopping")
        total = Tally()
        for tally in self.tallies.values():
            total.add(tally)
        return total

    async def _pump(self, done: Callable[[], bool], timeout_s: float, doing: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise PoolError(f"{self.label}: workers still {doing} after {timeout_s:.0f} s")
            try:
                message = await asyncio.to_thread(self.outbox.get, True, GET_S)
            except queue.Empty:
                self._check_alive(doing)
                continue
            self._take(message)

    def _take(self, message: tuple[Any, ...]) -> None:
        kind, index, *body = message
        if kind == "connecting":
            self.opening[index] = body[0]
        elif kind == "connected":
            self.connected[index] = body[0]
        elif kind == "progress":
            self.progress[index] = (body[0], body[1])
        elif kind == "result":
            self.tallies[index] = body[0]
        elif kind == "failed":
            raise PoolError(f"{self.label}: worker {index} failed:\n{body[0]}")

    def _check_alive(self, doing: str) -> None:
        for n, proc in enumerate(self.procs):
            if n not in self.tallies and proc.exitcode is not None:
                raise PoolError(f"{self.label}: worker {n} exited with {proc.exitcode} "
                                f"while {doing}")

    def _bar(self, total: float, unit: str) -> Any:
        return progress.bar(self.label, total, unit, self.quiet)
