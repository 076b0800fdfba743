"""The rep console in real Chromium against a real server: offers, claims, outcomes, deadlines."""

from __future__ import annotations

import asyncio
import re
import time

from playwright.async_api import Browser, expect

from tests.browser_harness import Console, ServerProcess, checked, chromium, open_console, served

CONFIG = """
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


server = served("server", CONFIG)
browser = chromium()
consoles = checked("consoles")


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



async def claim(console: Console, lead_id: str) -> None:
    await console.row(lead_id).get_by_role("button", name=re.compile("^Claim")).click()


async def test_cooldown_counts_down_then_a_claim_wins(browser: Browser, server: ServerProcess,
                                                      consoles: list[Console]) -> None:
    cora = await open_console(browser, server, "cora")
    consoles.append(cora)
    for n in (1, 2):
        server.publish({"id": f"cool-{n}", "region": "cool", "value": 100 * n})
    await cora.row("cool-2").wait_for(timeout=WAIT_MS)
    await claim(cora, "cool-1")
    await expect(cora.row("cool-1", "mine")).to_be_visible(timeout=WAIT_MS)
    await claim(cora, "cool-2")
    note = cora.row("cool-2").locator(".note")
    await expect(note).to_contain_text(re.compile(r"cooling down — you can claim again in [1-3] s"),
                                       timeout=WAIT_MS)
    await expect(cora.page.locator("#st-cooldown")).to_contain_text("left")
    await expect(note).to_contain_text("you can claim again now", timeout=WAIT_MS)
    await claim(cora, "cool-2")
    await expect(cora.row("cool-2", "mine")).to_be_visible(timeout=WAIT_MS)


async def test_daily_quota_says_when_it_resets(browser: Browser, server: ServerProcess,
                                               consoles: list[Console]) -> None:
    dave = await open_console(browser, server, "dave")
    consoles.append(dave)
    for n in (1, 2):
        server.publish({"id": f"quota-{n}", "region": "quota"})
    await dave.row("quota-2").wait_for(timeout=WAIT_MS)
    await claim(dave, "quota-1")
    await expect(dave.page.locator("#st-today")).to_have_text("1 / 1", timeout=WAIT_MS)
    await claim(dave, "quota-2")
    note = dave.row("quota-2").locator(".note")
    await expect(note).to_contain_text(re.compile(
        r"daily quota 1/1 reached — resets at 00:00 Asia/Shanghai \(in \d+ (h|min)"),
        timeout=WAIT_MS)
    first = await note.text_content()
    await expect(note).not_to_have_text(first or "", timeout=WAIT_MS)  # it counts down


async def test_tier_stage_not_open_counts_down_then_a_claim_wins(
        browser: Browser, server: ServerProcess, consoles: list[Console]) -> None:
    jun = await open_console(browser, server, "jun")
    consoles.append(jun)
    server.publish({"id": "stage-1", "region": "stage", "value": 200000})
    gil = server.rep_token("gil")
    assert server.request("POST", "/api/leads/stage-1/claim", gil, {})[1]["result"] == "won"
    assert server.request("POST", "/api/leads/stage-1/release", gil, {})[0] == 200
    await jun.row("stage-1").wait_for(timeout=WAIT_MS)  # offered again, stage still closed
    await claim(jun, "stage-1")
    note = jun.row("stage-1").locator(".note")
    await expect(note).to_contain_text(re.compile(r"not open to you yet — it opens for you in \d"),
                                       timeout=WAIT_MS)
    await expect(note).to_contain_text("it is open to you now", timeout=WAIT_MS)
    await claim(jun, "stage-1")
    await expect(jun.row("stage-1", "mine")).to_be_visible(timeout=WAIT_MS)


async def test_window_pending_counts_down_to_the_final_result(
        browser: Browser, server: ServerProcess, consoles: list[Console]) -> None:
    wen = await open_console(browser, server, "wen", team="east")
    consoles.append(wen)
    server.publish({"id": "win-1", "team": "east", "region": "win", "value": 900})
    await wen.row("win-1").wait_for(timeout=WAIT_MS)
    await expect(wen.row("win-1")).to_contain_text("lottery window 3 s")
    await claim(wen, "win-1")
    note = wen.row("win-1").locator(".note")
    await expect(note).to_contain_text(re.compile(r"in the lottery — the window closes in [1-3] s"),
                                       timeout=WAIT_MS)
    await expect(wen.page.locator("#outcome")).to_contain_text("won", timeout=WAIT_MS)
    await expect(wen.row("win-1", "mine")).to_be_visible()


async def test_missed_followup_recycles_with_a_penalty(browser: Browser, server: ServerProcess,
                                                       consoles: list[Console]) -> None:
    fay = await open_console(browser, server, "fay")
    gus = await open_console(browser, server, "gus")
    consoles += [fay, gus]
    server.publish({"id": "sla-1", "region": "sla", "value": 3000})
    await fay.row("sla-1").wait_for(timeout=WAIT_MS)
    await claim(fay, "sla-1")
    held = fay.row("sla-1", "mine")
    await expect(held.locator(".deadline")).to_contain_text("first follow-up due in",
                                                            timeout=WAIT_MS)
    await expect(gus.row("sla-1")).to_have_count(0, timeout=WAIT_MS)
    await expect(held).to_have_class(re.compile("warning"), timeout=WAIT_MS)
    await expect(held.get_by_role("alert")).to_contain_text("follow up before")
    await expect(held).to_have_count(0, timeout=WAIT_MS)
    gone = fay.page.locator('#gone li[data-lead-id="sla-1"]')
    await expect(gone).to_contain_text("recycled — no follow-up before the deadline")
    await expect(gone).to_contain_text(re.compile(r"penalty: no claims for \d+ min"),
                                       timeout=WAIT_MS)
    await gus.row("sla-1").wait_for(timeout=WAIT_MS)
