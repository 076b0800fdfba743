"""Browser test harness: a real `leadgrab serve` process on its embedded Redis, and Debian's
Chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """`leadgrab serve` in a folder of its own; the log (access log included) is kept."""

    folder: Path
    config: str  # TOML with {port} and {data_dir} left to fill
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
        path.write_text(self.config.format(port=port, data_dir=self.folder / "data",
                                           secret=SECRET))
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
class Console:
    """One rep's console in its own browser context; page errors are collected."""

    context: BrowserContext
    page: Page
    errors: list[str]

    def row(self, lead_id: str, where: str = "offers") -> Any:
        return self.page.locator(f'#{where} li[data-lead-id="{lead_id}"]')


async def open_console(browser: Browser, server: ServerProcess, rep: str, team: str = "north",
                       viewport: dict[str, int] | None = None, init_script: str = "",
                       token: str = "", **options: Any) -> Console:
    """Open the link `leadgrab token --link` prints (`token`: a given one instead of a fresh
    hour-long one) and wait for the welcome."""
    context = await browser.new_context(viewport=viewport or DESKTOP, **options)
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await page.goto(f"{server.url}/#token={token or server.rep_token(rep, team)}")
    await page.wait_for_function(
        "rep => document.getElementById('who').textContent.includes(rep)", arg=rep,
        timeout=15_000)
    return Console(context, page, errors)
