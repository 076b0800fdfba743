"""The manager board in real Chromium against a real server: live floor, actions, deadlines."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from playwright.async_api import Browser, expect

from tests.browser_harness import (
    BOARD_CONFIG,
    WAIT_MS,
    BoardPage,
    Console,
    ServerProcess,
    act,
    checked,
    chromium,
    manager_token,
    open_board,
    open_console,
    served,
)

IMG = Path(__file__).resolve().parent.parent / "docs" / "img"


server = served("server", BOARD_CONFIG)
browser = chromium()
pages = checked("pages")


async def north_with_ana_and_ben(browser: Browser, server: ServerProcess,
                                 pages: list[BoardPage | Console],
                                 ) -> tuple[BoardPage, Console, Console]:
    """A board on team north and the consoles of ana and ben (checked after the test)."""
    board = await open_board(browser, server, manager_token(server))
    ana = await open_console(browser, server, "ana")
    ben = await open_console(browser, server, "ben")
    pages += [board, ana, ben]
    await board.team("north")
    return board, ana, ben


async def test_publish_shows_open_then_claim_moves_to_held(
        browser: Browser, server: ServerProcess, pages: list[BoardPage | Console]) -> None:
    board, ana, _ben = await north_with_ana_and_ben(browser, server, pages)
    await expect(board.rep("ana")).to_contain_text("online", timeout=WAIT_MS)
    await expect(board.rep("ben")).to_contain_text("online", timeout=WAIT_MS)
    server.publish({"id": "live-1", "value": 8000, "region": "race",
                    "attrs": {"company": "Acme"}})
    await expect(board.lead("live-1")).to_be_visible(timeout=1000)  # within 1 s
    await expect(board.lead("live-1")).to_contain_text("first come")
    await ana.row("live-1").get_by_role("button", name=re.compile("^Claim")).click()
    await expect(board.lead("live-1", "held")).to_contain_text("held by ana", timeout=WAIT_MS)
    await expect(board.lead("live-1")).to_have_count(0)
    await expect(board.page.locator("#feed")).to_contain_text("ana won live-1")
    await expect(board.rep("ana")).to_contain_text("1 / 5")
    await board.page.screenshot(path=str(IMG / "board.png"))


async def test_dispatch_reassign_withdraw_and_pause(
        browser: Browser, server: ServerProcess, pages: list[BoardPage | Console]) -> None:
    board, ana, ben = await north_with_ana_and_ben(browser, server, pages)
    server.publish({"id": "disp-1", "value": 100, "region": "race"})
    await expect(board.lead("disp-1")).to_be_visible(timeout=WAIT_MS)
    await act(board, "disp-1", "open", "Dispatch", "ben", "key account")
    await expect(ben.row("disp-1", "mine")).to_be_visible(timeout=WAIT_MS)
    await expect(board.lead("disp-1", "held")).to_contain_text("held by ben", timeout=WAIT_MS)
    await expect(board.page.locator("#feed")).to_contain_text(
        "manager:boss dispatched disp-1 to ben — key account")
    # reassign asks for a reason: the audit records one
    await board.lead("disp-1", "held").get_by_role("button", name="Reassign").click()
    await board.page.select_option("#act-rep", "ana")
    await board.page.click("#act-go")
    await expect(board.page.locator("#act-error")).to_contain_text("reason is required")
    await board.page.fill("#act-reason", "ben is away")
    await board.page.click("#act-go")
    await expect(ana.row("disp-1", "mine")).to_be_visible(timeout=WAIT_MS)
    await expect(board.lead("disp-1", "held")).to_contain_text("held by ana", timeout=WAIT_MS)
    await expect(ben.row("disp-1", "mine")).to_have_count(0, timeout=WAIT_MS)
    await act(board, "disp-1", "held", "Withdraw", None, "customer cancelled")
    await expect(board.lead("disp-1", "held")).to_have_count(0, timeout=WAIT_MS)
    await expect(ana.row("disp-1", "mine")).to_have_count(0, timeout=WAIT_MS)
    await expect(board.page.locator("#feed")).to_contain_text("withdrew disp-1")
    # pause: the board shows it, and the rep is offered nothing until resumed
    await board.rep("ben").get_by_role("button", name="Pause").click()
    await expect(board.rep("ben")).to_contain_text("paused", timeout=WAIT_MS)
    server.publish({"id": "pause-1", "value": 100, "region": "race"})
    await expect(ana.row("pause-1")).to_be_visible(timeout=WAIT_MS)
    await asyncio.sleep(0.5)
    await expect(ben.row("pause-1")).to_have_count(0)
    await board.rep("ben").get_by_role("button", name="Resume").click()
    await expect(board.rep("ben")).to_contain_text("online", timeout=WAIT_MS)


async def test_deadline_highlighted_before_and_recycled_after(
        browser: Browser, server: ServerProcess, pages: list[BoardPage | Console]) -> None:
    board = await open_board(browser, server, manager_token(server))
    pages.append(board)
    await board.team("north")
    server.publish({"id": "sla-1", "value": 100, "region": "sla"})
    _status, body = server.request("POST", "/api/leads/sla-1/claim", server.rep_token("fay"), {})
    assert body["result"] == "won", body
    held = board.lead("sla-1", "held")
    await expect(held).to_contain_text("follow-up due in", timeout=WAIT_MS)
    # warn_before_ms = 4500 of a 6 s follow-up: at risk while still held
    await expect(held).to_have_class(re.compile("at-risk"), timeout=WAIT_MS)
    await expect(board.rep("fay")).to_have_class(re.compile("at-risk"))
    await expect(held).to_have_count(0, timeout=WAIT_MS)
    await expect(board.lead("sla-1")).to_be_visible()  # back in the pool
    feed = board.page.locator("#feed")
    await expect(feed).to_contain_text("fay's follow-up deadline on sla-1 is near")
    await expect(feed).to_contain_text("sla-1 recycled from fay (missed follow-up)")
    cooldown = board.rep("fay").locator("td").nth(4)
    await expect(cooldown).to_have_text(re.compile(r"\d+ min"))  # the penalty cooldown


async def test_late_board_matches_one_open_all_along(
        browser: Browser, server: ServerProcess, pages: list[BoardPage | Console]) -> None:
    early = await open_board(browser, server, manager_token(server))
    pages.append(early)
    await early.team("snap")
    tokens = {rep: server.rep_token(rep, "snap") for rep in ("s1", "s2", "s3")}
    decisions = 0
    for n in range(16):
        server.publish({"id": f"snap-{n}", "team": "snap", "value": 10 * n})
        decisions += 1
        for rep in ("s1", "s2", "s3")[: 1 + n % 3]:
            server.request("POST", f"/api/leads/snap-{n}/claim", tokens[rep], {})
            decisions += 1
        if n % 4 == 1:
            holder = ("s1", "s2", "s3")[0]
            server.request("POST", f"/api/leads/snap-{n}/release", tokens[holder])
            decisions += 1
    assert decisions >= 50
    late = await open_board(browser, server, manager_token(server))
    pages.append(late)
    await late.team("snap")
    panels = ("reps", "open", "held", "feed")
    deadline = time.monotonic() + WAIT_MS / 1000
    while await early.text(*panels) != await late.text(*panels):
        assert time.monotonic() < deadline, (await early.text(*panels), await late.text(*panels))
        await asyncio.sleep(0.3)
    assert "s1 won snap-0" in await late.text("feed")


async def test_audit_search_pages_and_downloads(
        browser: Browser, server: ServerProcess, pages: list[BoardPage | Console]) -> None:
    board = await open_board(browser, server, manager_token(server), accept_downloads=True)
    pages.append(board)
    await board.team("snap")  # more than one page of entries (the test above)
    page = board.page
    await page.click("#audit-search")
    await expect(page.locator("#audit-status")).to_contain_text("50 entries (more: next page)",
                                                                timeout=WAIT_MS)
    first = await page.inner_text("#audit tbody")
    await page.click("#audit-next")
    await expect(page.locator("#audit tbody")).not_to_have_text(first, timeout=WAIT_MS)
    await page.fill("#audit-lead", "snap-3")
    await page.click("#audit-search")
    rows = page.locator("#audit tbody tr")
    await page.wait_for_function(  # the status of the page before may match the pattern below
        "() => [...document.querySelectorAll('#audit tbody tr')].some("
        "r => r.cells[2].textContent === 'snap-3')", timeout=WAIT_MS)
    await asyncio.sleep(0.5)  # an answer to an earlier request arriving now must not repaint
    await expect(page.locator("#audit-status")).to_have_text(re.compile(r"^\d+ entries$"),
                                                             timeout=WAIT_MS)
    await expect(rows.first).to_contain_text("publish")
    leads = await rows.evaluate_all("rs => rs.map(r => r.cells[2].textContent)")
    assert set(leads) == {"snap-3"}
    for fmt, needle in (("jsonl", '"lead":"snap-3"'), ("csv", "snap-3")):
        async with page.expect_download() as info:
            await page.click(f"#audit-{fmt}")
        download = await info.value
        assert download.suggested_filename == f"audit-snap.{fmt}"
        body = Path(await download.path()).read_text()
        assert needle in body and "snap-4" not in body


async def test_fairness_matches_api_with_one_dominant_bar(
        browser: Browser, server: ServerProcess, pages: list[BoardPage | Console]) -> None:
    board = await open_board(browser, server, manager_token(server))
    pages.append(board)
    await board.team("fair")
    f1, f2 = server.rep_token("f1", "fair"), server.rep_token("f2", "fair")
    for n in range(8):
        server.publish({"id": f"fair-{n}", "team": "fair"})
        assert server.request("POST", f"/api/leads/fair-{n}/claim", f1, {})[1]["result"] == "won"
        assert server.request("POST", f"/api/leads/fair-{n}/claim", f2, {})[1]["result"] == "lost"
    status, report = server.request("GET", "/api/fairness?team=fair&window=24h",
                                    manager_token(server))
    assert status == 200
    jain = f"{report['figures']['jain']:.3f}"
    shown = board.page.locator('[data-figure="jain"] .value')
    await expect(shown).to_have_text(jain, timeout=WAIT_MS)  # pushed by the feed, no reload
    bars = board.page.locator("#chart g.bar")
    await expect(bars.first).to_have_attribute("data-wins", "8", timeout=WAIT_MS)
    await expect(bars.first).to_have_attribute("data-rep", "f1")
    await expect(shown).to_have_text(jain)
    others = [await b.get_attribute("data-wins") for b in await bars.all()][1:]
    assert others and set(others) == {"0"}
    assert await board.page.locator("#chart rect.top").count() == 1


async def test_html_in_lead_fields_renders_as_text(
        browser: Browser, server: ServerProcess, pages: list[BoardPage | Console]) -> None:
    board = await open_board(browser, server, manager_token(server))
    pages.append(board)
    await board.team("north")
    evil = '<img src=x onerror="document.title=1">'
    server.publish({"id": "xss-1", "region": "xss", "attrs": {"name": evil, "note": "<b>hi</b>"}})
    row = board.lead("xss-1")
    await expect(row).to_contain_text(evil, timeout=WAIT_MS)
    await expect(row).to_contain_text("note: <b>hi</b>")
    assert await board.page.locator("#open img, #open b").count() == 0
    assert await board.page.title() == "LeadGrab board"


async def test_rep_token_is_refused_and_scoped_manager_sees_one_team(
        browser: Browser, server: ServerProcess, pages: list[BoardPage | Console]) -> None:
    refused = await open_board(browser, server, server.rep_token("ana"), wait_live=False)
    await expect(refused.page.locator("#signin-message")).to_contain_text(
        "manager token", timeout=WAIT_MS)
    assert await refused.page.locator("#board").is_hidden()
    await refused.context.close()
    scoped = await open_board(browser, server, manager_token(server, ["south"]))
    pages.append(scoped)
    await expect(scoped.rep("sam")).to_be_visible(timeout=WAIT_MS)
    teams = await scoped.page.eval_on_selector_all("#team option", "os => os.map(o => o.value)")
    assert teams == ["south"]
    server.publish({"id": "north-secret", "region": "race"})
    await asyncio.sleep(1.5)
    text = await scoped.page.inner_text("body")
    for name in ("ana", "ben", "north-secret", "north"):
        assert name not in text
    await scoped.page.fill("#audit-lead", "north-secret")
    await scoped.page.click("#audit-search")
    await expect(scoped.page.locator("#audit-status")).to_contain_text("0 entries")


async def test_reload_from_the_board_highlights_the_changed_rule(
        browser: Browser, server: ServerProcess, pages: list[BoardPage | Console]) -> None:
    board = await open_board(browser, server, manager_token(server))
    pages.append(board)
    await board.team("north")
    version = await board.page.inner_text("#rules-version")
    before = int(version.split()[-1])
    path = server.folder / "config.toml"
    path.write_text(path.read_text().replace("max_daily = 40", "max_daily = 45"))
    await board.page.click("#reload")
    await expect(board.page.locator("#rules-version")).to_have_text(
        f"version {before + 1}", timeout=WAIT_MS)
    cell = board.page.locator('#rules tr[data-rep="ben"] td[data-rule="max_daily"]')
    await expect(cell).to_have_text("45")
    await expect(cell).to_have_class(re.compile("changed"))
    assert await board.page.locator("#rules td.changed").count() == 1
    await expect(board.page.locator("#feed")).to_contain_text(f"rules version {before + 1} loaded")
