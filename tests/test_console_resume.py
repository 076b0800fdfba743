"""The console across a server restart: reconnecting, then resumed with what it missed."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from tests.browser_harness import ServerProcess, chromium, free_port, open_console, served

CONFIG = """
[teams.north]
timezone = "Asia/Shanghai"
rules = {{ max_open = 5, max_daily = 50, cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }}

[[reps]]
id = "rho"
team = "north"
regions = ["resume"]
"""
WAIT_MS = 40_000  # two server starts on a loaded machine, then the console's backoff


# a server whose team stream keeps only the last few dozen entries
trimmed = served("trimmed", CONFIG, "function", server_extra="stream_maxlen = 20")
server = served("server", CONFIG, "function")
browser = chromium("function")


@pytest.mark.timeout(180)
async def test_restart_shows_reconnecting_then_resumes_without_duplicates(
        browser: Browser, server: ServerProcess) -> None:
    rho = await open_console(browser, server, "rho")
    server.publish({"id": "before", "region": "resume", "value": 100})
    await rho.row("before").wait_for(timeout=WAIT_MS)
    server.stop()
    await expect(rho.page.locator("#banner")).to_have_text("reconnecting…", timeout=WAIT_MS)
    await rho.row("before").get_by_role("button", name=re.compile("^Claim")).click()
    await expect(rho.row("before")).to_contain_text("not connected — the claim goes out when")
    # publish while the console cannot reach the server: the same data folder served on
    # another port, which the console does not know about
    side_port = free_port()
    server.start(side_port)
    for n in (1, 2, 3):
        server.publish({"id": f"missed-{n}", "region": "resume", "value": 100 + n}, side_port)
    server.stop()
    server.start()
    await expect(rho.page.locator("#banner")).to_have_text("back — 3 missed leads",
                                                           timeout=WAIT_MS)
    await expect(rho.row("before", "mine")).to_have_count(1, timeout=WAIT_MS)  # sent again
    for lead_id in ("missed-1", "missed-2", "missed-3"):
        await expect(rho.row(lead_id)).to_have_count(1)
    assert await rho.page.locator("#offers li").count() == 3
    server.publish({"id": "after", "region": "resume", "value": 200})
    await rho.row("after").wait_for(timeout=WAIT_MS)
    await expect(rho.page.locator("#offers li").first).to_have_attribute("data-lead-id", "after")
    assert [e for e in rho.errors if "WebSocket" not in e] == []
    await rho.context.close()


@pytest.mark.timeout(180)
async def test_a_gap_on_resume_says_the_list_may_be_stale(browser: Browser,
                                                          trimmed: ServerProcess) -> None:
    rho = await open_console(browser, trimmed, "rho")
    trimmed.publish({"id": "old", "region": "resume"})
    await rho.row("old").wait_for(timeout=WAIT_MS)
    trimmed.stop()
    await expect(rho.page.locator("#banner")).to_have_text("reconnecting…", timeout=WAIT_MS)
    side_port = free_port()
    trimmed.start(side_port)
    for n in range(300):  # for other reps: they push "old" out of the stream
        trimmed.publish({"id": f"filler-{n}", "region": "elsewhere"}, side_port)
    trimmed.publish({"id": "kept", "region": "resume"}, side_port)
    trimmed.stop()
    trimmed.start()
    await expect(rho.page.locator("#banner")).to_have_text(
        "back — 1 missed lead; some older events are no longer kept — the list may be stale",
        timeout=WAIT_MS)
    await expect(rho.row("kept")).to_have_count(1)
    await expect(rho.row("old")).to_have_count(1)  # still shown: the console cannot know
    await rho.context.close()
