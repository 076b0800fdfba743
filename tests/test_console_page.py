"""The rep console page: safe rendering, headers, keyboard use, accessibility, screenshots."""

from __future__ import annotations

import re
import time
import urllib.request

from playwright.async_api import Browser, expect

from server.web.auth import Role
from tests.browser_harness import PHONE, ServerProcess, chromium, open_console, served
from tests.conftest import ROOT

CONFIG = """
[teams.north]
timezone = "Asia/Shanghai"

[teams.north.rules]
max_open = 5
max_daily = 50
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 600000
followup_sla_ms = 3600000
max_hold_ms = 259200000

[[reps]]
id = "xia"
team = "north"
regions = ["xss"]

[[reps]]
id = "kim"
team = "north"
regions = ["kbd"]
skills = ["企业版"]

[[reps]]
id = "ola"
team = "north"
regions = ["act"]

[[reps]]
id = "pia"
team = "north"
regions = ["kbd"]
skills = ["企业版"]

[[reps]]
id = "lia"
team = "north"
regions = ["long"]
"""
WAIT_MS = 15_000
AXE = ROOT / "tests" / "vendor" / "axe.min.js"
IMAGES = ROOT / "docs" / "img"
LEADS = [
    {"id": "kbd-1", "value": 86000, "priority": 8, "region": "kbd", "customer_id": "C-1024",
     "skills": ["企业版"], "attrs": {"customer": "上海云帆物流有限公司", "contact": "李女士",
                                   "source": "官网表单"}},
    {"id": "kbd-2", "value": 12500, "priority": 5, "region": "kbd",
     "attrs": {"customer": "Harbor Dental Clinic", "source": "call centre"}},
    {"id": "kbd-3", "value": 4300, "priority": 3, "region": "kbd",
     "attrs": {"customer": "杭州绿野咖啡", "source": "展会 expo"}},
]


server = served("server", CONFIG)
browser = chromium()


async def test_lead_fields_render_as_text_and_run_nothing(browser: Browser,
                                                          server: ServerProcess) -> None:
    xia = await open_console(browser, server, "xia")
    hostile = {"name": "<img src=x onerror=\"document.title='pwned'\">",
               "note": "<script>document.title='pwned'</script>"}
    server.publish({"id": "xss-1", "region": "xss", "customer_id": "<b>bold</b>",
                    "attrs": hostile})
    row = xia.row("xss-1")
    await expect(row).to_contain_text(hostile["name"], timeout=WAIT_MS)
    await expect(row).to_contain_text(hostile["note"])
    await expect(row).to_contain_text("customer <b>bold</b>")
    assert await xia.page.locator("#offers img, #offers script, #offers b").count() == 0
    await row.get_by_role("button", name=re.compile("^Claim")).click()
    await expect(xia.row("xss-1", "mine")).to_contain_text(hostile["name"], timeout=WAIT_MS)
    assert "pwned" not in await xia.page.title()
    assert xia.errors == []
    await xia.context.close()


def test_security_headers_on_the_page_and_its_scripts(server: ServerProcess) -> None:
    for path in ("/", "/static/js/main.js", "/static/console.css"):
        with urllib.request.urlopen(server.url + path, timeout=10) as resp:
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "default-src 'none'" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Referrer-Policy"] == "no-referrer"
    with urllib.request.urlopen(server.url + "/static/js/main.js", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith(("text/javascript",
                                                        "application/javascript"))


async def test_keyboard_claims_the_top_lead(browser: Browser, server: ServerProcess) -> None:
    kim = await open_console(browser, server, "kim")
    for lead in LEADS:
        server.publish(lead)
    await kim.row("kbd-3").wait_for(timeout=WAIT_MS)
    await expect(kim.page.locator("#offers li").first).to_have_attribute("data-lead-id", "kbd-3")
    await kim.page.keyboard.press("c")
    await expect(kim.row("kbd-3", "mine")).to_be_visible(timeout=WAIT_MS)
    await expect(kim.page.locator("#outcome")).to_contain_text("won")
    # keyboard only: Tab to the next lead's Claim button and press Enter
    button = kim.row("kbd-2").get_by_role("button", name=re.compile("^Claim"))
    for _ in range(30):
        if await button.evaluate("b => b === document.activeElement"):
            break
        await kim.page.keyboard.press("Tab")
    await kim.page.keyboard.press("Enter")
    await expect(kim.row("kbd-2", "mine")).to_be_visible(timeout=WAIT_MS)
    await expect(kim.page).to_have_title(re.compile(r"^\(1\) LeadGrab — kim"))
    assert kim.errors == []
    await kim.context.close()


async def test_accessibility_and_screenshots(browser: Browser, server: ServerProcess) -> None:
    """axe-core finds no serious or critical violation; screenshots go to docs/img/."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    pia = await open_console(browser, server, "pia", bypass_csp=True)
    kim = await open_console(browser, server, "kim", viewport=PHONE, bypass_csp=True)
    for lead in LEADS:
        server.publish({**lead, "id": lead["id"].replace("kbd", "shot")})
    await pia.row("shot-3").wait_for(timeout=WAIT_MS)
    await pia.row("shot-2").get_by_role("button", name=re.compile("^Claim")).click()
    await expect(pia.row("shot-2", "mine")).to_be_visible(timeout=WAIT_MS)
    await expect(kim.row("shot-2")).to_have_count(0, timeout=WAIT_MS)
    await expect(kim.row("shot-1")).to_contain_text("上海云帆物流有限公司")
    for console, name in ((pia, "console-desktop.png"), (kim, "console-phone.png")):
        await console.page.add_script_tag(path=str(AXE))
        result = await console.page.evaluate("axe.run(document)")
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]])
               for v in result["violations"] if v["impact"] in ("serious", "critical")]
        assert bad == []
        await console.page.screenshot(path=str(IMAGES / name), full_page=console is kim)
        assert (IMAGES / name).stat().st_size > 10_000
        assert console.errors == []
        await console.context.close()


async def test_a_refused_token_shows_why_and_the_sign_in_form(browser: Browser,
                                                              server: ServerProcess) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    expired = server.authority.mint(Role.REP, "xia", team="north", ttl_s=1)
    time.sleep(7)  # past exp and the server's 5 s leeway
    await page.goto(f"{server.url}/#token={expired}")
    await expect(page.locator("#signin-message")).to_contain_text("token expired",
                                                                   timeout=WAIT_MS)
    assert "#token" not in page.url
    await expect(page.locator("#console")).to_be_hidden()
    await page.get_by_label("Paste your rep token").fill(server.rep_token("xia"))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#who")).to_contain_text("xia", timeout=WAIT_MS)
    await context.close()


async def test_my_leads_actions_and_pause(browser: Browser, server: ServerProcess) -> None:
    ola = await open_console(browser, server, "ola")
    for n in (1, 2, 3):
        server.publish({"id": f"act-{n}", "region": "act", "value": n})
    await ola.row("act-3").wait_for(timeout=WAIT_MS)
    for n in (1, 2, 3):
        await ola.row(f"act-{n}").get_by_role("button", name=re.compile("^Claim")).click()
        await ola.row(f"act-{n}", "mine").wait_for(timeout=WAIT_MS)
    await expect(ola.page.locator("#st-open")).to_have_text("3 / 5", timeout=WAIT_MS)
    held = ola.row("act-1", "mine")
    await expect(held.locator(".deadline")).to_contain_text("first follow-up due in 59 min")
    await held.get_by_label(re.compile("^Follow-up note")).fill("called 王经理, quote sent")
    await held.get_by_role("button", name=re.compile("^Follow up")).click()
    await expect(ola.page.locator("#outcome")).to_contain_text("follow-up recorded",
                                                               timeout=WAIT_MS)
    await expect(held.locator(".deadline")).to_contain_text("next follow-up due in 71 h")
    await held.get_by_role("button", name=re.compile("^Close won")).click()
    await ola.row("act-2", "mine").get_by_role("button", name=re.compile("^Release")).click()
    await ola.row("act-3", "mine").get_by_role("button", name=re.compile("^Close lost")).click()
    gone = ola.page.locator("#gone")
    await expect(gone).to_contain_text("act-1: closed", timeout=WAIT_MS)
    await expect(gone).to_contain_text("act-2: released back to the team", timeout=WAIT_MS)
    await expect(gone).to_contain_text("act-3: closed", timeout=WAIT_MS)
    await expect(ola.page.locator("#mine li")).to_have_count(0)
    await expect(ola.page.locator("#st-open")).to_have_text("0 / 5", timeout=WAIT_MS)
    pause = ola.page.get_by_role("button", name="Pause")
    await pause.click()
    resume = ola.page.get_by_role("button", name="Resume")
    await expect(resume).to_have_attribute("aria-pressed", "true", timeout=WAIT_MS)
    assert server.request("GET", "/api/reps/ola", server.rep_token("ola"))[1]["paused"] is True
    await resume.click()
    await expect(pause).to_have_attribute("aria-pressed", "false", timeout=WAIT_MS)
    assert ola.errors == []
    await ola.context.close()


async def test_a_long_list_keeps_the_newest_rows_in_the_page(browser: Browser,
                                                            server: ServerProcess) -> None:
    """20 rows at most in the page (each new row would otherwise lay out and paint all the
    rows below it); the older offers are counted, come back as rows leave, and show on demand."""
    lia = await open_console(browser, server, "lia")
    for n in range(1, 24):
        server.publish({"id": f"long-{n}", "region": "long", "value": n})
    count, rows = lia.page.locator("#offers-count"), lia.page.locator("#offers li")
    more = lia.page.locator("#offers-more")
    await expect(count).to_have_text("23", timeout=WAIT_MS)
    await expect(rows).to_have_count(20)
    await expect(rows.first).to_have_attribute("data-lead-id", "long-23")
    await expect(rows.last).to_have_attribute("data-lead-id", "long-4")
    await expect(more).to_have_text("Show older offers (3 more)")
    await expect(lia.page).to_have_title(re.compile(r"^\(23\) LeadGrab"))
    await lia.page.keyboard.press("c")  # the top lead is won and leaves the list
    await expect(lia.row("long-23", "mine")).to_be_visible(timeout=WAIT_MS)
    await expect(rows).to_have_count(20)
    await expect(rows.last).to_have_attribute("data-lead-id", "long-3")
    await expect(more).to_have_text("Show older offers (2 more)")
    await more.click()
    await expect(rows).to_have_count(22)
    await expect(rows.last).to_have_attribute("data-lead-id", "long-1")
    await expect(more).to_be_hidden()
    await lia.row("long-1").get_by_role("button", name=re.compile("^Claim")).click()
    await expect(lia.row("long-1", "mine")).to_be_visible(timeout=WAIT_MS)
    assert lia.errors == []
    await lia.context.close()


def test_the_token_never_reaches_the_access_log(server: ServerProcess) -> None:
    log = server.log.read_text()
    assert "GET / HTTP" in log  # the access log is on: the page was fetched
    assert "/static/js/main.js" in log
    assert "eyJ" not in log  # no JWT, of any rep
