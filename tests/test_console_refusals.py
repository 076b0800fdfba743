"""The rep console in real Chromium: every other rejection's wording, a token that expires in
the middle of a session, and the sound and desktop notification for a new lead."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright, expect

from server.web.auth import Role
from tests.browser_harness import SECRET, Console, ServerProcess, launch, open_console

CONFIG = """
[teams.north]
timezone = "UTC"

[teams.north.rules]
max_open = 5
max_daily = 50
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 0

[[reps]]
id = "ida"
team = "north"
regions = ["inel"]

[[reps]]
id = "ole"
team = "north"
regions = ["qopen"]
rules = {{ max_open = 1 }}

[[reps]]
id = "cal"
team = "north"
regions = ["gone"]

[[reps]]
id = "lou"
team = "north"
regions = ["lock"]
rules = {{ reclaim_lockout_ms = 2000 }}

[[reps]]
id = "ray"
team = "north"
regions = ["rate"]
rules = {{ max_claims_per_s = 1 }}

[[reps]]
id = "tia"
team = "north"
regions = ["tok"]

[[reps]]
id = "sam"
team = "north"
regions = ["bell"]
"""
WAIT_MS = 15_000
# Every text the outcome line ever shows, in order (some are replaced within a second).
OUTCOMES = """
document.addEventListener("DOMContentLoaded", () => {
  const node = document.getElementById("outcome");
  const seen = globalThis.seenOutcomes = [];
  new MutationObserver(() => seen.push(node.textContent))
    .observe(node, { childList: true, characterData: true, subtree: true });
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("console-refusals"), CONFIG,
                         server_extra="lead_retention_s = 2")
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


async def rep(browser: Browser, server: ServerProcess, consoles: list[Console], name: str,
              script: str = "", **options: object) -> Console:
    console = await open_console(browser, server, name, init_script=OUTCOMES + script, **options)
    consoles.append(console)
    return console


async def claim(console: Console, lead_id: str) -> None:
    await console.row(lead_id).get_by_role("button", name=re.compile("^Claim")).click()


async def said(console: Console, text: str) -> None:
    """The outcome line showed `text` (now or earlier)."""
    await console.page.wait_for_function(
        "text => seenOutcomes.some((line) => line.includes(text))", arg=text, timeout=WAIT_MS)


def manager(server: ServerProcess) -> str:
    return server.authority.mint(Role.MANAGER, "mia", team="north", ttl_s=600)


async def test_ineligible_after_the_manager_moves_the_rep(browser: Browser,
                                                          server: ServerProcess,
                                                          consoles: list[Console]) -> None:
    ida = await rep(browser, server, consoles, "ida")
    server.publish({"id": "inel-1", "region": "inel"})
    await ida.row("inel-1").wait_for(timeout=WAIT_MS)
    moved = server.config.replace('regions = ["inel"]', 'regions = ["elsewhere"]')
    (server.folder / "config.toml").write_text(moved.format(
        port=server.port, data_dir=server.folder / "data", secret=SECRET))
    assert server.request("POST", "/api/config/reload", manager(server))[0] == 200
    await claim(ida, "inel-1")
    await expect(ida.row("inel-1")).to_contain_text(
        "not eligible — your region, skills or tier do not fit this lead", timeout=WAIT_MS)
    await said(ida, "inel-1: not eligible")


async def test_quota_open_says_how_many_are_held(browser: Browser, server: ServerProcess,
                                                 consoles: list[Console]) -> None:
    ole = await rep(browser, server, consoles, "ole")
    for n in (1, 2):
        server.publish({"id": f"qopen-{n}", "region": "qopen"})
    await ole.row("qopen-2").wait_for(timeout=WAIT_MS)
    await claim(ole, "qopen-1")
    await expect(ole.page.locator("#st-open")).to_have_text("1 / 1", timeout=WAIT_MS)
    await claim(ole, "qopen-2")
    await expect(ole.row("qopen-2")).to_contain_text(
        "you hold 1/1 open leads — close or release one first", timeout=WAIT_MS)
    button = ole.row("qopen-2").get_by_role("button", name=re.compile("^Claim"))
    await expect(button).to_be_enabled()


async def test_closed_then_not_found_on_a_withdrawn_leads_stale_row(
        browser: Browser, server: ServerProcess, consoles: list[Console]) -> None:
    """A withdrawn lead lingers a few seconds as taken; claiming it says closed, and once the
    server has dropped it (lead_retention_s = 2), that there is no such lead."""
    cal = await rep(browser, server, consoles, "cal")
    for n in (1, 2):
        server.publish({"id": f"gone-{n}", "region": "gone"})
    await cal.row("gone-2").wait_for(timeout=WAIT_MS)
    boss = manager(server)
    assert server.request("POST", "/api/leads/gone-1/withdraw?team=north", boss, {})[0] == 200
    await expect(cal.row("gone-1")).to_contain_text("taken by another rep", timeout=WAIT_MS)
    await claim(cal, "gone-1")
    await said(cal, "gone-1: closed — the lead was closed or withdrawn")
    assert server.request("POST", "/api/leads/gone-2/withdraw?team=north", boss, {})[0] == 200
    await expect(cal.row("gone-2")).to_contain_text("taken by another rep", timeout=WAIT_MS)
    await asyncio.sleep(2.5)  # past the retention: the lead's record expired
    await claim(cal, "gone-2")
    await said(cal, "gone-2: no such lead on your team")


async def test_locked_out_after_a_release_counts_down(browser: Browser, server: ServerProcess,
                                                     consoles: list[Console]) -> None:
    lou = await rep(browser, server, consoles, "lou")
    server.publish({"id": "lock-1", "region": "lock", "customer_id": "C-77"})
    await lou.row("lock-1").wait_for(timeout=WAIT_MS)
    await claim(lou, "lock-1")
    await lou.row("lock-1", "mine").get_by_role("button", name=re.compile("^Release")).click()
    await expect(lou.row("lock-1", "mine")).to_have_count(0, timeout=WAIT_MS)
    server.publish({"id": "lock-2", "region": "lock", "customer_id": "C-77"})
    await lou.row("lock-2").wait_for(timeout=WAIT_MS)
    await claim(lou, "lock-2")
    note = lou.row("lock-2").locator(".note")
    await expect(note).to_contain_text(re.compile(
        r"locked out — you released or lost this customer recently; you can claim again in \d s"),
        timeout=WAIT_MS)
    await expect(note).to_contain_text("lockout over — you can claim again now", timeout=WAIT_MS)
    await claim(lou, "lock-2")
    await expect(lou.row("lock-2", "mine")).to_be_visible(timeout=WAIT_MS)


async def test_rate_limited_claims_say_retry(browser: Browser, server: ServerProcess,
                                             consoles: list[Console]) -> None:
    """Three claims in one task, one allowed a second: two of them share a second."""
    ray = await rep(browser, server, consoles, "ray")
    for n in (1, 2, 3):
        server.publish({"id": f"rate-{n}", "region": "rate"})
    await ray.row("rate-3").wait_for(timeout=WAIT_MS)
    await ray.page.evaluate(
        "() => document.querySelectorAll('#offers button.primary').forEach((b) => b.click())")
    await said(ray, "too many claims this second — retry in")
    again = ray.page.locator("#offers .note", has_text="you can claim again now")
    await expect(again).not_to_have_count(0, timeout=WAIT_MS)
    await expect(ray.page.locator("#mine li")).to_have_count(1)


async def test_a_token_expiring_mid_session_asks_for_a_new_link(browser: Browser,
                                                                server: ServerProcess,
                                                                consoles: list[Console]) -> None:
    """The server closes the session when the token runs out (its exp plus 5 s of leeway): the
    page says so, offers the sign-in form, and does not keep reconnecting."""
    short = server.authority.mint(Role.REP, "tia", team="north", ttl_s=1)
    tia = await rep(browser, server, consoles, "tia", token=short)
    sockets: list[str] = []
    tia.page.on("websocket", lambda ws: sockets.append(ws.url))
    await expect(tia.page.locator("#signin-message")).to_contain_text(
        "the token expired", timeout=WAIT_MS)
    await expect(tia.page.locator("#signin-message")).to_contain_text("Open a new link")
    await expect(tia.page.get_by_label("Paste your rep token")).to_be_visible()
    await expect(tia.page.locator("#console")).to_be_hidden()
    await asyncio.sleep(1.5)  # a reconnect loop would have opened sockets by now
    assert sockets == []
    await tia.page.get_by_label("Paste your rep token").fill(server.rep_token("tia"))
    await tia.page.get_by_role("button", name="Sign in").click()
    await expect(tia.page.locator("#who")).to_contain_text("tia", timeout=WAIT_MS)


# Observed from the page: each beep's oscillator start (and its context's state), and each
# desktop notification the page raises.
ATTENTION = """
globalThis.beeps = [];
globalThis.notes = [];
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  beeps.push(this.context.state);
  return start.apply(this, args);
};
const Native = Notification;
globalThis.Notification = class extends Native {
  constructor(title, options) {
    super(title, options);
    notes.push([title, options.body]);
  }
};
"""


async def test_a_new_lead_beeps_and_raises_a_notification(browser: Browser,
                                                          server: ServerProcess,
                                                          consoles: list[Console]) -> None:
    sam = await rep(browser, server, consoles, "sam", permissions=["notifications"],
                    script=ATTENTION)
    page = sam.page
    server.publish({"id": "bell-0", "region": "bell"})
    await sam.row("bell-0").wait_for(timeout=WAIT_MS)
    assert await page.evaluate("() => [beeps.length, notes.length]") == [0, 0]  # off by default
    await page.get_by_label("Sound").check()
    await page.get_by_label("Desktop notifications").check()
    await page.wait_for_function("() => beeps.length === 1")  # the check itself plays one
    assert await page.evaluate("() => Notification.permission") == "granted"
    server.publish({"id": "bell-1", "region": "bell", "value": 880})
    await sam.row("bell-1").wait_for(timeout=WAIT_MS)
    assert await page.evaluate("() => beeps") == ["running", "running"]
    assert await page.evaluate("() => notes") == []  # the rep is looking at the page
    other = await sam.context.new_page()  # another window in front: the console loses focus
    await other.bring_to_front()
    cdp = await sam.context.new_cdp_session(page)
    await cdp.send("Emulation.setFocusEmulationEnabled", {"enabled": False})
    assert await page.evaluate("() => document.hasFocus()") is False
    server.publish({"id": "bell-2", "region": "bell", "value": 990})
    await page.wait_for_function("() => notes.length === 1", timeout=WAIT_MS)
    assert await page.evaluate("() => notes") == [["New lead", "¥990 · bell"]]
    assert await page.evaluate("() => beeps.length") == 3
    await other.close()
    # A new tab of the same browser: both settings are remembered.
    tab = await sam.context.new_page()
    await tab.goto(f"{server.url}/#token={server.rep_token('sam')}")
    await expect(tab.get_by_label("Sound")).to_be_checked(timeout=WAIT_MS)
    await expect(tab.get_by_label("Desktop notifications")).to_be_checked()
    await expect(tab.locator("#who")).to_contain_text("sam", timeout=WAIT_MS)  # welcomed
    server.publish({"id": "bell-3", "region": "bell"})
    await tab.wait_for_function("() => beeps.length === 1", timeout=WAIT_MS)
    await tab.close()
