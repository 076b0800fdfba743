"""The rep console against `leadgrab serve` with two workers: a race across workers, then each
worker killed in turn (the supervisor restarts it): every console reconnects, resumes, and
lists the leads published meanwhile, none twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.browser_harness import ServerProcess, launch, open_console

CONFIG = """
[teams.north]
timezone = "UTC"

[teams.north.rules]
max_open = 5
max_daily = 50
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 0

[[reps]]
id = "ana"
team = "north"
regions = ["w"]

[[reps]]
id = "ben"
team = "north"
regions = ["w"]
"""
WAIT_MS = 20_000
RESTART_S = 30.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("console-workers"), CONFIG,
                         server_extra="workers = 2")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await launch(pw)
        yield chromium
        await chromium.close()


def workers(server: ServerProcess) -> list[int]:
    """The supervisor's gateway processes (its other child is the embedded redis-server)."""
    assert server.proc is not None
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(server.proc.pid)],
                         capture_output=True, text=True, check=False).stdout
    return sorted(int(line.split()[0]) for line in out.splitlines() if "server.cli" in line)


def listening(server: ServerProcess) -> set[int]:
    """The processes with a listening socket on the server's port."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{server.port}"], capture_output=True,
                         text=True, check=False).stdout
    return {int(pid) for pid in re.findall(r"pid=(\d+)", out)}


def kill_and_publish(server: ServerProcess, pid: int, lead_id: str) -> None:
    """SIGKILL one worker; publish through the other; wait until the supervisor replaced it."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + RESTART_S
    while True:  # a connection queued on the killed worker's socket is reset: try again
        try:
            server.publish({"id": lead_id, "region": "w"})
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    while time.monotonic() < deadline:
        now = workers(server)
        if len(now) == 2 and pid not in now and listening(server) == set(now):
            return
        time.sleep(0.2)
    raise AssertionError(f"worker {pid} was not replaced: {workers(server)}")


async def test_two_workers_race_and_a_killed_worker_resumes(browser: Browser,
                                                            server: ServerProcess) -> None:
    first = workers(server)
    assert len(first) == 2
    ana = await open_console(browser, server, "ana")
    ben = await open_console(browser, server, "ben")
    server.publish({"id": "w-1", "region": "w", "attrs": {"customer": "深圳蓝海"}})
    for console in (ana, ben):
        await console.row("w-1").wait_for(timeout=WAIT_MS)
    await ana.row("w-1").get_by_role("button", name=re.compile("^Claim")).click()
    await expect(ana.page.locator("#outcome")).to_contain_text("won", timeout=WAIT_MS)
    await expect(ben.row("w-1")).to_contain_text("taken by another rep", timeout=WAIT_MS)
    for n, pid in enumerate(first, start=2):  # every socket was on one of them: all drop
        kill_and_publish(server, pid, f"w-{n}")
    for console in (ana, ben):
        await expect(console.page.locator("#banner")).to_contain_text("back", timeout=WAIT_MS)
        for lead_id in ("w-2", "w-3"):
            await expect(console.row(lead_id)).to_have_count(1, timeout=WAIT_MS)
    server.publish({"id": "w-4", "region": "w"})
    await ben.row("w-4").get_by_role("button", name=re.compile("^Claim")).click()
    await expect(ben.row("w-4", "mine")).to_be_visible(timeout=WAIT_MS)
    await expect(ana.row("w-4")).to_contain_text("taken by another rep", timeout=WAIT_MS)
    await expect(ana.row("w-1", "mine")).to_have_count(1)
    for console in (ana, ben):
        ids = await console.page.locator("#offers li").evaluate_all(
            "rows => rows.map((r) => r.dataset.leadId)")
        assert len(ids) == len(set(ids)), ids
        # a reconnect that reached the port while no worker listened is logged by Chromium
        assert [e for e in console.errors if not e.startswith("WebSocket connection to")] == []
        await console.context.close()
