"""Browser test harness for the rep console and the manager board: a real `leadgrab serve`
process on its embedded Redis, Debian's Chromium driven by Playwright (no browser download),
the pages opened by their sign-in links, and the fixtures every browser test file uses."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright

from server.web.auth import Role, TokenAuthority

CHROMIUM = os.environ.get("LEADGRAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SECRET = "console-tests-secret-0123456789abcdefghijklmnop"
LEADGRAB = Path(sys.executable).with_name("leadgrab")
START_TIMEOUT_S = 45.0
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}
WAIT_MS = 15_000  # generous: a loaded 2-core machine
COUNTDOWN = re.compile(r"\d+ (s|min|h)\b")
SERVER = """
[server]
host = "127.0.0.1"
port = {port}
data_dir = "{data_dir}"
secret = "{secret}"
"""
Scope = Literal["module", "function"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """`leadgrab serve` in a folder of its own; the log (access log included) is kept."""

    folder: Path
    config: str  # TOML, braces doubled, {port} {data_dir} {secret} filled by str.format; without
    # a [server] section of its own, SERVER (+ server_extra) is put in front
    server_extra: str = ""  # more [server] settings ("stream_maxlen = 20")
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    authority: TokenAuthority = field(default_factory=lambda: TokenAuthority(SECRET))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def start(self, port: int | None = None) -> None:
        """Start on `port` (default: its own) and wait until /healthz answers."""
        port = port or self.port
        path = self.folder / "config.toml"
        text = self.config if "[server]" in self.config else (
            SERVER + self.server_extra + "\n" + self.config)
        path.write_text(text.format(port=port, data_dir=self.folder / "data", secret=SECRET))
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([str(LEADGRAB), "serve", "-c", str(path)],
                                         stdout=out, stderr=subprocess.STDOUT, cwd=self.folder)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            with suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
                return
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def rep_token(self, rep: str, team: str = "north", ttl_s: int = 3600) -> str:
        return self.authority.mint(Role.REP, rep, team=team, ttl_s=ttl_s)

    def request(self, method: str, path: str, token: str, body: Any = None,
                port: int | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port or self.port}{path}", data=data,
                                     method=method, headers={"Authorization": f"Bearer {token}",
                                                             "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def publish(self, lead: dict[str, Any], port: int | None = None) -> dict[str, Any]:
        token = self.authority.mint(Role.INTEGRATION, "tests", ttl_s=600)
        status, body = self.request("POST", "/api/leads", token, {"team": "north", **lead}, port)
        assert status in (200, 201), body
        result: dict[str, Any] = body
        return result


async def launch(pw: Playwright) -> Browser:
    return await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


@dataclass
class Opened:
    """A page in its own browser context; its errors (and failed requests, if asked) are
    collected."""

    context: BrowserContext
    page: Page
    errors: list[str]


async def open_page(browser: Browser, url: str, viewport: dict[str, int] | None = None,
                    init_script: str = "", http_errors: bool = False,
                    **options: Any) -> Opened:
    """A new context and page at `url`, collecting page errors and console errors."""
    context = await browser.new_context(viewport=viewport or DESKTOP, **options)
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    if http_errors:
        page.on("response",
                lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await page.goto(url)
    return Opened(context, page, errors)


@dataclass
class Console(Opened):
    """One rep's console."""

    def row(self, lead_id: str, where: str = "offers") -> Any:
        return self.page.locator(f'#{where} li[data-lead-id="{lead_id}"]')


async def open_console(browser: Browser, server: ServerProcess, rep: str, team: str = "north",
                       viewport: dict[str, int] | None = None, init_script: str = "",
                       token: str = "", **options: Any) -> Console:
    """Open the link `leadgrab token --link` prints (`token`: a given one instead of a fresh
    hour-long one) and wait for the welcome."""
    opened = await open_page(browser, f"{server.url}/#token={token or server.rep_token(rep, team)}",
                             viewport, init_script, http_errors=True, **options)
    await opened.page.wait_for_function(
        "rep => document.getElementById('who').textContent.includes(rep)", arg=rep,
        timeout=15_000)
    return Console(opened.context, opened.page, opened.errors)


BOARD_CONFIG = """
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


def manager_token(server: ServerProcess, teams: list[str] | None = None) -> str:
    return server.authority.mint(Role.MANAGER, "boss", ttl_s=3600, teams=teams)


@dataclass
class BoardPage(Opened):
    """One manager board."""

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
    opened = await open_page(browser, f"{server.url}/board#token={token}", **options)
    if wait_live:
        await opened.page.wait_for_function(
            "() => document.getElementById('link-state').textContent === 'live'", timeout=WAIT_MS)
    return BoardPage(opened.context, opened.page, opened.errors)


async def act(board: BoardPage, lead_id: str, where: str, button: str, rep: str | None,
              reason: str) -> None:
    """Click an action on a lead row and confirm the dialog."""
    await board.lead(lead_id, where).get_by_role("button", name=button).click()
    if rep is not None:
        await board.page.select_option("#act-rep", rep)
    await board.page.fill("#act-reason", reason)
    await board.page.click("#act-go")


def served(name: str, config: str, scope: Scope = "module",
           server_extra: str = "") -> Callable[..., Any]:
    """A fixture called `name`: a server for `config` (see ServerProcess), stopped after."""

    @pytest.fixture(name=name, scope=scope)
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
        proc = ServerProcess(tmp_path_factory.mktemp(name), config, server_extra)
        proc.start()
        yield proc
        proc.stop()

    return server


def chromium(scope: Scope = "module") -> Callable[..., Any]:
    """The fixture `browser`: headless Chromium, closed after."""

    @pytest.fixture(name="browser", scope=scope)
    async def browser() -> AsyncIterator[Browser]:
        async with async_playwright() as pw:
            launched = await launch(pw)
            yield launched
            await launched.close()

    return browser


def checked(name: str) -> Callable[..., Any]:
    """A fixture called `name`: a list the test adds its opened pages to; after the test each
    must have logged no error, and its browser context is closed."""

    @pytest.fixture(name=name)
    async def pages() -> AsyncIterator[list[Opened]]:
        opened: list[Opened] = []
        yield opened
        for page in opened:
            assert page.errors == []
            await page.context.close()

    return pages
