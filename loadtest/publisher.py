"""Publishing leads over HTTP: at a steady rate during a run, or all at once before one."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from types import TracebackType

import aiohttp

from loadtest.contention import lead_id
from loadtest.histogram import Latency
from loadtest.target import Target

POST_TIMEOUT_S = 10.0


class Publisher:
    """POSTs the run's leads with an integration token, timing each request."""

    def __init__(self, target: Target, run_id: str) -> None:
        self.target, self.run_id = target, run_id
        self.post = Latency()
        self.published = 0
        self.errors: Counter[str] = Counter()
        self.next_index = 0
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Publisher:
        headers = {"Authorization": f"Bearer {self.target.integration_token()}"}
        timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT_S)
        connector = aiohttp.TCPConnector(limit=64)
        self.session = aiohttp.ClientSession(headers=headers, timeout=timeout,
                                             connector=connector)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self.session is not None:
            await self.session.close()

    async def publish_one(self) -> str:
        """Publish the next lead of the run; failures are counted, not raised."""
        assert self.session is not None
        lead, self.next_index = lead_id(self.run_id, self.next_index), self.next_index + 1
        body = {"id": lead, "team": self.target.team, "value": 1000.0, "priority": 5,
                "attrs": {"source": "loadtest"}}
        started = time.perf_counter()
        try:
            async with self.session.post(f"{self.target.http_url}/api/leads",
                                         json=body) as response:
                await response.read()
                ok = response.status in (200, 201)
                if not ok:
                    self.errors[f"http:{response.status}"] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.errors[f"post:{type(exc).__name__}"] += 1
            return lead
        self.post.record_us((time.perf_counter() - started) * 1e6)
        self.published += ok
        return lead

    async def at_rate(self, rate_per_s: float, seconds: float) -> None:
        """Open loop: one lead every 1/rate s, whether earlier POSTs finished or not."""
        start = time.perf_counter()
        tasks: set[asyncio.Task[str]] = set()
        for n in range(max(1, round(rate_per_s * seconds))):
            delay = start + n / rate_per_s - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self.publish_one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=POST_TIMEOUT_S)

    async def upfront(self, count: int, concurrency: int = 32) -> list[str]:
        """Publish `count` leads as fast as allowed (before clients connect); returns the ids."""
        gate = asyncio.Semaphore(concurrency)

        async def one() -> str:
            async with gate:
                return await self.publish_one()

        return list(await asyncio.gather(*(one() for _ in range(count))))
