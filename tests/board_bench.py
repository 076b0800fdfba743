"""Benchmark of the manager board (run by hand, not part of the suite):

    flock /tmp/leadgrab-bench.lock .venv/bin/python -m tests.board_bench [SECONDS] [RATE]

A real server with 1,000 reps on its roster and Debian's Chromium showing the board. Leads are
published at RATE per second (default 20) for SECONDS (default 60); three random reps claim
each over HTTP (one wins, two lose) and the winner closes it 3 s later: five audit entries a
lead. The page records, for every audit entry, its paint time (server clock) minus the entry's
audit time (`ts`, Redis TIME in the script that decided): the lag p50/p99/max is printed, and
the page's JS heap and DOM node count (CDP Performance.getMetrics) at the start, every minute
and at the end.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Page, async_playwright

from server.web.auth import Role
from tests.browser_harness import ServerProcess, launch, open_board

REPS = 1000
SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
RATE = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
CLAIMERS = 3
CLOSE_AFTER_S = 3.0
HEAD = """
[teams.floor]
timezone = "UTC"

[teams.floor.rules]
max_open = 100
max_daily = 100000
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 0
"""


def config() -> str:
    reps = "".join(f'\n[[reps]]\nid = "r{n:04d}"\nteam = "floor"\n' for n in range(REPS))
    return HEAD + reps


async def metrics(page: Page) -> dict[str, float]:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Performance.enable")
    found: dict[str, Any] = await cdp.send("Performance.getMetrics")
    await cdp.detach()
    wanted = ("JSHeapUsedSize", "Nodes")
    return {m["name"]: m["value"] for m in found["metrics"] if m["name"] in wanted}


class Floor:
    """Publishes, claims and closes over HTTP, as integrations and reps would."""

    def __init__(self, server: ServerProcess, http: aiohttp.ClientSession) -> None:
        self.server, self.http = server, http
        self.integration = server.authority.mint(Role.INTEGRATION, "bench", ttl_s=7200)
        self.tokens = {f"r{n:04d}": server.rep_token(f"r{n:04d}", "floor", 7200)
                       for n in range(REPS)}
        self.tasks: set[asyncio.Task[None]] = set()

    async def post(self, path: str, token: str, body: dict[str, Any]) -> Any:
        async with self.http.post(self.server.url + path, json=body,
                                  headers={"Authorization": f"Bearer {token}"}) as resp:
            return await resp.json()

    async def lead(self, n: int) -> None:
        lead_id = f"B-{n}"
        await self.post("/api/leads", self.integration,
                        {"id": lead_id, "team": "floor", "value": n,
                         "attrs": {"company": f"客户 {n}"}})
        reps = random.sample(sorted(self.tokens), CLAIMERS)
        answers = await asyncio.gather(*(self.post(f"/api/leads/{lead_id}/claim",
                                                   self.tokens[r], {}) for r in reps))
        winner = next((r for r, a in zip(reps, answers, strict=True)
                       if a.get("result") == "won"), None)
        if winner:
            await asyncio.sleep(CLOSE_AFTER_S)
            await self.post(f"/api/leads/{lead_id}/close", self.tokens[winner],
                            {"outcome": "won"})

    async def run(self, page: Page) -> None:
        start, n, minute = time.monotonic(), 0, 1
        while time.monotonic() - start < SECONDS:
            task = asyncio.create_task(self.lead(n))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            n += 1
            await asyncio.sleep(max(0.0, start + n / RATE - time.monotonic()))
            if time.monotonic() - start >= 60 * minute:
                print(f"after {minute} min: {await metrics(page)}", flush=True)
                minute += 1
        await asyncio.gather(*self.tasks)
        print(f"leads published: {n} in {time.monotonic() - start:.0f} s", flush=True)


async def run(server: ServerProcess) -> list[float]:
    async with async_playwright() as pw, aiohttp.ClientSession() as http:
        browser = await launch(pw)
        token = server.authority.mint(Role.MANAGER, "bench", ttl_s=7200)
        board = await open_board(browser, server, token)
        print(f"start: {await metrics(board.page)}", flush=True)
        await board.page.evaluate("() => { board.lags.length = 0; }")
        await Floor(server, http).run(board.page)
        await asyncio.sleep(2)
        lags: list[float] = await board.page.evaluate("() => board.lags.slice()")
        print(f"end: {await metrics(board.page)}; feed lines "
              f"{await board.page.locator('#feed li').count()}, errors {board.errors}")
        await browser.close()
    return lags


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        server = ServerProcess(Path(folder), config())
        server.start()
        try:
            lags = asyncio.run(run(server))
        finally:
            server.stop()
    cuts = statistics.quantiles(lags, n=100)
    print(f"entries painted: {len(lags)} (the page keeps the newest 20,000)")
    print(f"audit time -> painted: p50 {cuts[49]:.0f} ms, p99 {cuts[98]:.0f} ms, "
          f"max {max(lags):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
