"""The rep console shows the pool on connect and follows a reload's limits frame (Chromium)."""

from __future__ import annotations

import re

from playwright.async_api import Browser, expect

from server.web.auth import Role
from tests.browser_harness import Console, ServerProcess, chromium, open_console, served

CONFIG = """
[teams.north]
timezone = "Asia/Shanghai"
release = {{ min_value = 100000, stages = [ {{ tiers = ["gold"], after_ms = 0 }},
            {{ tiers = ["*"], after_ms = 600000 }} ] }}

[teams.north.rules]
max_open = 5
max_daily = 50
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 0

[tiers.gold.rules]
max_open = 5

[[reps]]
id = "pia"
team = "north"
regions = ["north"]
"""
WAIT_MS = 15_000


server = served("server", CONFIG)
browser = chromium()


async def test_the_console_shows_the_pool_and_new_limits(browser: Browser,
                                                         server: ServerProcess) -> None:
    server.publish({"id": "far", "region": "east", "value": 100})  # pia covers north only
    server.publish({"id": "later", "region": "north", "value": 200000})  # stage in 10 min
    server.publish({"id": "open", "region": "north", "value": 100})
    pia: Console = await open_console(browser, server, "pia")
    try:
        await expect(pia.row("open")).to_be_visible(timeout=WAIT_MS)
        await expect(pia.row("later")).to_contain_text("opens for you at")
        await expect(pia.page.locator("#offers li.lead")).to_have_count(2)
        await expect(pia.row("far")).to_have_count(0)
        await pia.row("open").get_by_role("button", name=re.compile("^Claim")).click()
        await expect(pia.row("open", "mine")).to_be_visible(timeout=WAIT_MS)
        await expect(pia.page.locator("#st-today")).to_have_text("1 / 50", timeout=WAIT_MS)
        path = server.folder / "config.toml"
        path.write_text(path.read_text().replace("max_daily = 50", "max_daily = 9"))
        manager = server.authority.mint(Role.MANAGER, "boss", ttl_s=600)
        status, _ = server.request("POST", "/api/config/reload", manager)
        assert status == 200
        await expect(pia.page.locator("#st-today")).to_have_text("1 / 9", timeout=2_000)
        await expect(pia.page.locator("#outcome")).to_contain_text("rules changed")
        assert pia.errors == []
    finally:
        await pia.context.close()
