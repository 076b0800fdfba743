"""The rep console in real Chromium against a real server: offers, claims, outcomes, deadlines."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.conftest import ROOT
from tests.console_harness import (
    DESKTOP,
    PHONE,
    Console,
    ServerProcess,
    launch,
    open_console,
)

CONFIG = """
[server]
host = "127.0.0.1"
port = {port}
data_dir = "{data_dir}"
secret = "{secret}"

[teams.north]
timezone = "Asia/Shanghai"
release = {{ min_value = 100000, stages = [ {{ tiers = ["gold"], after_ms = 0 }},
            {{ tiers = ["*"], after_ms = 8000 }} ] }}

[teams.north.rules]
max_open = 5
max_daily = 50
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 600000

[teams.east]
timezone = "Asia/Shanghai"
mode = "window"
window_ms = 2500
window_policy = "lottery"

[teams.east.rules]
max_open = 5
max_daily = 50
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 600000

[tiers.gold.rules]
max_open = 5

[tiers.junior.rules]
max_open = 5

[[reps]]
id = "ana"
team = "north"
regions = ["race"]

[[reps]]
id = "ben"
team = "north"
regions = ["race"]

[[reps]]
id = "cora"
team = "north"
regions = ["cool"]
rules = {{ cooldown_after_claim_ms = 3000 }}

[[reps]]
id = "dave"
team = "north"
regions = ["quota"]
rules = {{ max_daily = 1 }}

[[reps]]
id = "gil"
team = "north"
tier = "gold"
regions = ["stage"]

[[reps]]
id = "jun"
team = "north"
tier = "junior"
regions = ["stage"]

[[reps]]
id = "fay"
team = "north"
regions = ["sla"]
rules = {{ followup_sla_ms = 6000, warn_before_ms = 4500 }}

[[reps]]
id = "gus"
team = "north"
regions = ["sla"]

[[reps]]
id = "wen"
team = "east"
regions = ["win"]

[[reps]]
id = "xia"
team = "north"
regions = ["xss"]

[[reps]]
id = "kim"
team = "north"
regions = ["kbd"]
"""
WAIT_MS = 15_000  # generous: a loaded 2-core machine


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("console"), CONFIG)
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await launch(pw)
        yield chromium
        await chromium.close()


@pytest.fixture
async def consoles() -> AsyncIterator[list[Console]]:
    opened: list[Console] = []
    yield opened
    for console in opened:
        assert console.errors == []
        await console.context.close()


async def test_two_reps_race_for_a_lead(browser: Browser, server: ServerProcess,
                                        consoles: list[Console]) -> None:
    ana = await open_console(browser, server, "ana")
    ben = await open_console(browser, server, "ben")
    consoles += [ana, ben]
    started = time.monotonic()
    server.publish({"id": "race-1", "region": "race", "value": 5200, "priority": 6,
                    "attrs": {"customer": "北京星河科技", "contact": "王经理"}})
    await asyncio.gather(ana.row("race-1").wait_for(timeout=WAIT_MS),
                         ben.row("race-1").wait_for(timeout=WAIT_MS))
    assert time.monotonic() - started < 1.0
    await expect(ana.row("race-1")).to_contain_text("北京星河科技")
    await ana.row("race-1").get_by_role("button", name=re.compile("^Claim")).click()
    await expect(ana.page.locator("#outcome")).to_contain_text("won", timeout=WAIT_MS)
    await expect(ana.row("race-1", "mine")).to_be_visible()
    await expect(ben.row("race-1")).to_contain_text("taken by another rep", timeout=WAIT_MS)
    await ben.row("race-1").get_by_role("button", name=re.compile("^Claim")).click()
    await expect(ben.row("race-1")).to_contain_text("lost — another rep was faster",
                                                    timeout=WAIT_MS)
    await expect(ben.row("race-1")).to_have_count(0, timeout=WAIT_MS)
