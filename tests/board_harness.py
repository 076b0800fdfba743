"""Browser test helpers for the manager board: a config with four teams, opening boards."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page

from server.web.auth import Role
from tests.console_harness import DESKTOP, ServerProcess

CONFIG = """
[server]
host = "127.0.0.1"
port = {port}
data_dir = "{data_dir}"
secret = "{secret}"

[teams.north]
timezone = "Asia/Shanghai"

[teams.north.rules]
max_open = 5
max_daily = 50
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 600000

[teams.fair.rules]
max_open = 50
max_daily = 500
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 600000

[teams.snap.rules]
max_open = 50
max_daily = 500
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 0

[teams.south.rules]
max_open = 5
max_daily = 50
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 0

[[reps]]
id = "ana"
team = "north"
regions = ["race"]

[[reps]]
id = "ben"
team = "north"
regions = ["race"]
rules = {{ max_daily = 40 }}

[[reps]]
id = "fay"
team = "north"
regions = ["sla"]
rules = {{ followup_sla_ms = 6000, warn_before_ms = 4500 }}

[[reps]]
id = "xia"
team = "north"
regions = ["xss"]

[[reps]]
id = "f1"
team = "fair"

[[reps]]
id = "f2"
team = "fair"

[[reps]]
id = "f3"
team = "fair"

[[reps]]
id = "s1"
team = "snap"

[[reps]]
id = "s2"
team = "snap"

[[reps]]
id = "s3"
team = "snap"

[[reps]]
id = "sam"
team = "south"
"""
WAIT_MS = 15_000
COUNTDOWN = re.compile(r"\d+ (s|min|h)\b")


def manager_token(server: ServerProcess, teams: list[str] | None = None) -> str:
    return server.authority.mint(Role.MANAGER, "boss", ttl_s=3600, teams=teams)


@dataclass
class BoardPage:
    """One board in its own browser context; page errors are collected."""

    context: BrowserContext
    page: Page
    errors: list[str]

    def lead(self, lead_id: str, where: str = "open") -> Any:
        return self.page.locator(f'#{where} li[data-lead-id="{lead_id}"]')

    def rep(self, rep: str) -> Any:
        return self.page.locator(f'#reps tr[data-rep="{rep}"]')

    async def team(self, name: str) -> None:
        await self.page.wait_for_function(
            "name => [...document.getElementById('team').options].some(o => o.value === name)",
            arg=name, timeout=WAIT_MS)
        await self.page.select_option("#team", name)

    async def text(self, *ids: str) -> str:
        """The text of these panels with countdowns blanked (two pages tick apart)."""
        parts = [await self.page.inner_text(f"#{i}") for i in ids]
        return COUNTDOWN.sub("<t>", "\n".join(parts))


async def open_board(browser: Browser, server: ServerProcess, token: str,
                     wait_live: bool = True, **options: Any) -> BoardPage:
    """Open the link `leadgrab token --role manager --link` prints."""
    context = await browser.new_context(viewport=options.pop("viewport", DESKTOP), **options)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(f"{server.url}/board#token={token}")
    if wait_live:
        await page.wait_for_function(
            "() => document.getElementById('link-state').textContent === 'live'", timeout=WAIT_MS)
    return BoardPage(context, page, errors)


async def act(board: BoardPage, lead_id: str, where: str, button: str, rep: str | None,
              reason: str) -> None:
    """Click an action on a lead row and confirm the dialog."""
    await board.lead(lead_id, where).get_by_role("button", name=button).click()
    if rep is not None:
        await board.page.select_option("#act-rep", rep)
    await board.page.fill("#act-reason", reason)
    await board.page.click("#act-go")
