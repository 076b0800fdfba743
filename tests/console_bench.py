"""Paint benchmark of the rep console (run by hand, not part of the suite):

    flock /tmp/leadgrab-bench.lock .venv/bin/python -m tests.console_bench [GAP_S] [LISTED]
        [--runs N] [--all-rows] [--add-flag FLAG] [--drop-flag FLAG]

A real server and Debian's Chromium; with LISTED offers listed (default 200), 500 more leads
are published one after another, GAP_S seconds apart (default 0.05), and each is followed
through the page: the `lead` frame's arrival (the message handler starts), the row inserted,
the start of the next animation frame (the `requestAnimationFrame` timestamp), and the row's
first paint as Chromium's Element Timing reports it: `paintTime` (the rendering update that
painted it, on the main thread) and `presentationTime` (the frame shown by the compositor).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from tests import browser_harness
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
# The page calls leadgrabPaint.arrived(leadId, arrivedMs) after inserting a lead's row, and marks
# the row's head with `elementtiming` when the hook exists; everything else is here.
INIT = """
(() => {
  const waiting = new Map();
  const samples = [];
  globalThis.leadgrabPaint = {
    samples,
    arrived(leadId, arrived) {
      const s = { arrived, handled: performance.now(), frame: null, update: null, paint: null,
                  shown: null };
      waiting.set(`lead:${leadId}`, s);
      requestAnimationFrame((t) => { s.frame = t; s.update = performance.now(); });
    },
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const s = waiting.get(e.identifier);
      if (!s) continue;
      waiting.delete(e.identifier);
      s.paint = e.paintTime ?? null;
      s.shown = e.presentationTime || e.renderTime;
      performance.measure(`paint:${e.identifier}`, { start: s.arrived, end: s.shown });
      samples.push(s);
    }
  }).observe({ type: "element", buffered: true });
})();
"""
VIEWPORT = {"width": 1280, "height": 800}  # rows pushed off screen before a frame are never painted
MEASURED = 500
FRAME_MS = 1000 / 60


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gap", nargs="?", type=float, default=0.05, help="seconds between leads")
    parser.add_argument("listed", nargs="?", type=int, default=200, help="offers listed first")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--all-rows", action="store_true",
                        help="show every listed offer in the page (Show older offers)")
    parser.add_argument("--add-flag", action="append", default=[], help="extra Chromium flag")
    parser.add_argument("--drop-flag", action="append", default=[], help="harness flag to drop")
    parser.add_argument("--dump", type=Path, help="write every run's samples here (JSON)")
    parser.add_argument("--trace", type=Path, help="record a Chromium trace of the measured part")
    return parser.parse_args()


async def measure(server: ServerProcess, opts: argparse.Namespace, run: int) -> list[Any]:
    async with async_playwright() as pw:
        browser = await launch(pw)
        console = await open_console(browser, server, "bench", viewport=VIEWPORT,
                                     init_script=INIT)
        for n in range(opts.listed):
            server.publish({"id": f"pre{run}-{n}", "value": n, "attrs": {"customer": f"客户 {n}"}})
        await console.page.wait_for_function(
            f"() => Number(document.getElementById('offers-count').textContent) >= {opts.listed}",
            timeout=60_000)
        if opts.all_rows:  # every listed offer in the page, as after "Show older offers"
            await console.page.evaluate(
                "() => { const b = document.getElementById('offers-more');"
                " while (!b.hidden) b.click(); }")
        await asyncio.sleep(1)
        await console.page.evaluate("() => { leadgrabPaint.samples.length = 0; }")
        if opts.trace:
            await browser.start_tracing(page=console.page, path=opts.trace, categories=CATEGORIES)
        for n in range(MEASURED):
            server.publish({"id": f"m{run}-{n}", "value": n, "attrs": {"customer": f"客户 {n}"}})
            await asyncio.sleep(opts.gap)
        await asyncio.sleep(2)  # the last paints
        if opts.trace:
            await browser.stop_tracing()
        samples: list[Any] = await console.page.evaluate("() => leadgrabPaint.samples.slice()")
        await browser.close()
    return samples


def cut(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100)
    return f"p50 {cuts[49]:6.2f}  p99 {cuts[98]:6.2f}  max {max(values):6.2f} ms"


def report(samples: list[Any]) -> None:
    rows = [s for s in samples if s["update"] is not None and s["paint"] is not None]
    print(f"  rows painted and measured: {len(samples)} of {MEASURED}")
    steps = [
        ("frame -> handled (the page's script)", "arrived", "handled"),
        ("frame -> next frame's vsync (rAF time)", "arrived", "frame"),
        ("frame -> row inserted (rAF runs)", "arrived", "update"),
        ("row inserted -> paintTime (style..paint)", "update", "paint"),
        ("paintTime -> presented (raster, draw)", "paint", "shown"),
        ("FRAME -> ROW PAINTED (paintTime)", "arrived", "paint"),
        ("FRAME -> ROW SHOWN (presentationTime)", "arrived", "shown"),
    ]
    for label, start, end in steps:
        print(f"  {label:42} {cut([s[end] - s[start] for s in rows])}")
    within = [s for s in rows if s["paint"] - s["arrived"] <= FRAME_MS]
    print(f"  rows painted within one frame ({FRAME_MS:.1f} ms) of their frame's arrival: "
          f"{len(within)} of {len(rows)} ({100 * len(within) / max(1, len(rows)):.1f} %)")


# Chromium trace events that make up a frame: the renderer's main thread (the rendering update),
# its compositor and raster threads, and the display compositor (software draw, swap).
TRACED = ["FunctionCall", "FireAnimationFrame", "UpdateLayoutTree", "Layout", "PrePaint",
          "Paint", "Layerize", "Commit", "RasterTask", "Display::DrawAndSwap",
          "SkiaOutputSurfaceImplOnGpu::SwapBuffers"]
CATEGORIES = ["devtools.timeline", "blink", "cc", "viz", "gpu",
              "disabled-by-default-devtools.timeline"]


def trace_report(path: Path) -> None:
    events = json.loads(path.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    spans: dict[str, list[float]] = {name: [] for name in TRACED}
    for event in events:
        if event.get("ph") == "X" and event.get("name") in spans:
            spans[event["name"]].append(event.get("dur", 0) / 1000)
    for name, durations in spans.items():
        if len(durations) >= 2:
            print(f"  trace {name:40} n {len(durations):6}  {cut(durations)}"
                  f"  total {sum(durations):8.1f} ms")


def main() -> int:
    opts = options()
    args = [a for a in browser_harness.CHROMIUM_ARGS if a not in opts.drop_flag]
    browser_harness.CHROMIUM_ARGS[:] = args + opts.add_flag
    print(f"Chromium flags (besides Playwright's): {' '.join(browser_harness.CHROMIUM_ARGS)}")
    print(f"leads: {MEASURED}, one every {opts.gap * 1000:.0f} ms, {opts.listed} listed first")
    runs: list[list[Any]] = []
    for run in range(opts.runs):
        with tempfile.TemporaryDirectory() as folder:
            server = ServerProcess(Path(folder), CONFIG)
            server.start()
            load = os.getloadavg()[0]
            try:
                samples = asyncio.run(measure(server, opts, run))
            finally:
                server.stop()
        print(f"run {run + 1}: load average (1 min) {load:.2f} before, "
              f"{os.getloadavg()[0]:.2f} after")
        report(samples)
        if opts.trace:
            trace_report(opts.trace)
        runs.append(samples)
    if opts.dump:
        opts.dump.write_text(json.dumps(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
