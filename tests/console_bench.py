"""Paint benchmark of the rep console (run by hand, not part of the suite):

    flock /tmp/leadgrab-bench.lock .venv/bin/python -m tests.console_bench

A real server and Debian's Chromium; with 200 offers listed, 500 more leads are published one
after another (optional arguments: seconds between two, default 0.05; offers listed first,
default 200), and the console measures
(Performance API: a mark at each `lead` frame's arrival, Element Timing for the row's first
paint) the time from the frame's arrival to its row painted.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from tests.browser_harness import ServerProcess, launch, open_console

CONFIG = """
[teams.north]
timezone = "UTC"
rules = {{ max_open = 5, max_daily = 5, cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }}

[[reps]]
id = "bench"
team = "north"
regions = ["*"]
"""
LISTED = int(sys.argv[2]) if len(sys.argv) > 2 else 200  # offers listed before measuring
INIT = "globalThis.leadgrabPaint = []; leadgrabPaint.script = []"
VIEWPORT = {"width": 1280, "height": 800}  # rows pushed off screen before a frame are never painted
MEASURED = 500
GAP_S = float(sys.argv[1]) if len(sys.argv) > 1 else 0.05  # between two publishes


async def run(server: ServerProcess) -> list[float]:
    async with async_playwright() as pw:
        browser = await launch(pw)
        console = await open_console(browser, server, "bench", viewport=VIEWPORT,
                                     init_script=INIT)
        for n in range(LISTED):
            server.publish({"id": f"pre-{n}", "value": n, "attrs": {"customer": f"客户 {n}"}})
        await console.page.wait_for_function(
            f"() => document.querySelectorAll('#offers li').length >= {LISTED}", timeout=60_000)
        await asyncio.sleep(1)
        await console.page.evaluate(
            "() => { leadgrabPaint.length = 0; leadgrabPaint.script.length = 0; }")
        for n in range(MEASURED):
            server.publish({"id": f"m-{n}", "value": n, "attrs": {"customer": f"客户 {n}"}})
            await asyncio.sleep(GAP_S)
        await asyncio.sleep(2)  # the last paints
        samples: list[float] = await console.page.evaluate("() => leadgrabPaint.slice()")
        script: list[float] = await console.page.evaluate("() => leadgrabPaint.script.slice()")
        rows = await console.page.locator("#offers li").count()
        await browser.close()
    print(f"rows listed at the end: {rows}")
    cuts = statistics.quantiles(script, n=100)
    print(f"frame -> row inserted (script only): p50 {cuts[49]:.2f} ms, p99 {cuts[98]:.2f} ms")
    return samples


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        server = ServerProcess(Path(folder), CONFIG)
        server.start()
        try:
            samples = asyncio.run(run(server))
        finally:
            server.stop()
    cuts = statistics.quantiles(samples, n=100)
    print(f"leads published: {MEASURED}, one every {GAP_S * 1000:.0f} ms; rows painted and "
          f"measured: {len(samples)} (with >= {LISTED} already listed)")
    print(f"frame -> row painted: p50 {cuts[49]:.2f} ms, p99 {cuts[98]:.2f} ms, "
          f"max {max(samples):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
