"""`leadgrab serve --workers 2`: one port, one Redis, two gateways that act as one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
import websockets
from redis.asyncio import Redis

from server.store import keys
from tests.test_processes import (
    AUTH,
    LEADGRAB,
    Role,
    free_port,
    next_of,
    publish,
    wait_healthy,
    write_config,
)

pytestmark = pytest.mark.timeout(120)


@dataclass
class Farm:
    """A supervisor with two workers on one port, and its embedded Redis."""

    proc: subprocess.Popen[bytes]
    base: str
    log: Path
    data: Path

    def workers(self) -> set[int]:
        """The live worker processes (a killed one is gone, or a zombie until reaped)."""
        pids = set()
        for p in psutil.Process(self.proc.pid).children():
            try:
                if "serve" in p.cmdline():
                    pids.add(p.pid)
            except psutil.Error:
                continue
        return pids

    def worker_of(self, ws: Any) -> int:
        """The worker process holding this client socket (by its local port)."""
        port = ws.local_address[1]
        for pid in self.workers():
            for conn in psutil.Process(pid).net_connections("tcp"):
                if conn.raddr and conn.raddr.port == port:
                    return pid
        raise LookupError(f"no worker holds the connection from port {port}")

    async def redis(self) -> Redis:
        return Redis.from_url((self.data / "redis" / "url").read_text().strip(),
                              decode_responses=True)

    def log_count(self, text: str) -> int:
        return self.log.read_text().count(text)


@contextmanager
def farm(folder: Path, workers: int = 2) -> Iterator[Farm]:
    config = write_config(folder)  # no redis_url: the supervisor starts one for all workers
    port = free_port()
    log = folder / "farm.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*LEADGRAB, "serve", "--config", str(config), "--port", str(port),
                                 "--workers", str(workers)], stdout=out, stderr=subprocess.STDOUT)
    running = Farm(proc, f"http://127.0.0.1:{port}", log, folder / "data")
    try:
        wait_healthy(running.base, proc, log)
        _wait(lambda: running.log_count("LeadGrab listening") >= workers, log)
        yield running
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)


def _wait(ready: Any, log: Path, timeout_s: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Farm]:
    with farm(tmp_path_factory.mktemp("farm")) as running:
        yield running


@asynccontextmanager
async def rep(f: Farm, rep_id: str, resume: str | None = None,
              avoid: int | None = None) -> AsyncIterator[Any]:
    """A rep socket (on a worker other than `avoid`, when given), greeted."""
    for _ in range(50):
        ws = await websockets.connect(f.base.replace("http", "ws") + "/ws")
        if avoid is None or f.worker_of(ws) != avoid:
            break
        await ws.close()
    else:
        raise AssertionError(f"every connection landed on worker {avoid}")
    try:
        hello = {"type": "hello", "token": AUTH.mint(Role.REP, rep_id, team="north", ttl_s=60)}
        await ws.send(json.dumps({**hello, **({"resume": resume} if resume else {})}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        yield ws
    finally:
        await ws.close()


async def test_race_across_workers_has_one_winner(shared: Farm) -> None:
    async with contextlib_stack(shared, [f"r{n:03}" for n in range(60)]) as conns:
        assert len({shared.worker_of(ws) for ws in conns}) == 2, "the reps all on one worker"
        await publish(shared.base, "HOT")
        await asyncio.gather(*(next_of(ws, "lead") for ws in conns))
        for n, ws in enumerate(conns):
            await ws.send(json.dumps({"type": "claim", "req_id": f"h{n}", "lead_id": "HOT"}))
        results = await asyncio.gather(*(next_of(ws, "claim_result") for ws in conns))
    outcomes = [r["result"] for r in results]
    assert outcomes.count("won") == 1 and outcomes.count("lost") == len(conns) - 1
    redis = await shared.redis()
    audit = await redis.xrange(keys.audit("north"))
    await redis.aclose()
    assert sum(1 for _, f in audit if f.get("lead") == "HOT" and f.get("result") == "won") == 1


@asynccontextmanager
async def contextlib_stack(f: Farm, reps: list[str]) -> AsyncIterator[list[Any]]:
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(rep(f, r)) for r in reps]


async def test_resume_on_the_other_worker_misses_nothing(shared: Farm) -> None:
    async with rep(shared, "r070") as ws:
        await publish(shared.base, "R1")
        seen = await next_of(ws, "lead")
        first_worker = shared.worker_of(ws)
    for lead in ("R2", "R3", "R4"):
        await publish(shared.base, lead)
    async with rep(shared, "r070", resume=seen["seq"], avoid=first_worker) as ws:
        assert shared.worker_of(ws) != first_worker
        got = [(await next_of(ws, "lead"))["lead_id"] for _ in range(3)]
        assert got == ["R2", "R3", "R4"]
        with pytest.raises(TimeoutError):
            await next_of(ws, "lead", timeout_s=0.5)  # no duplicate of a replayed lead


async def test_a_killed_worker_is_replaced_and_its_reps_reconnect(shared: Farm) -> None:
    before = shared.workers()
    async with rep(shared, "r080") as ws:
        victim = shared.worker_of(ws)
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(websockets.ConnectionClosed):
            async with asyncio.timeout(10):
                while True:  # the pool snapshot (leads still open) may come first
                    await ws.recv()
    _wait(lambda: len(shared.workers()) == 2 and victim not in shared.workers(), shared.log)
    assert len(shared.workers() - before) == 1
    _wait(lambda: shared.log_count("LeadGrab listening") >= 3, shared.log)
    async with rep(shared, "r080") as ws:
        await publish(shared.base, "K1")
        lead = await next_of(ws, "lead")
        while lead["lead_id"] != "K1":  # the snapshot: leads of earlier tests still open (K1
            lead = await next_of(ws, "lead")  # too, when published before it was read)


async def test_one_sighup_reaches_both_workers(shared: Farm) -> None:
    before = shared.log_count("rules reloaded")
    shared.proc.send_signal(signal.SIGHUP)
    _wait(lambda: shared.log_count("rules reloaded") == before + 2, shared.log)
    await asyncio.sleep(0.5)
    assert shared.log_count("rules reloaded") == before + 2


async def test_metrics_sum_every_workers_claims(shared: Farm, tmp_path: Path) -> None:
    async with contextlib_stack(shared, [f"r{n:03}" for n in range(20, 40)]) as conns:
        assert len({shared.worker_of(ws) for ws in conns}) == 2
        await publish(shared.base, "M1")
        for n, ws in enumerate(conns):
            await ws.send(json.dumps({"type": "claim", "req_id": f"m{n}", "lead_id": "M1"}))
        await asyncio.gather(*(next_of(ws, "claim_result") for ws in conns))
    async with aiohttp.ClientSession() as http, http.get(shared.base + "/metrics") as resp:
        scrape = await resp.text()
    claims = sum(float(line.rsplit(" ", 1)[1]) for line in scrape.splitlines()
                 if line.startswith("leadgrab_claims_total{"))
    redis = await shared.redis()
    audit = await redis.xrange(keys.audit("north"))
    await redis.aclose()
    assert claims == sum(1 for _, f in audit if f.get("action") == "claim") >= 20
    checked = subprocess.run(["promtool", "check", "metrics"], input=scrape, text=True,
                             capture_output=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_sigterm_leaves_nothing_running(tmp_path: Path) -> None:
    with farm(tmp_path) as running:
        family = psutil.Process(running.proc.pid).children(recursive=True)
        assert len(family) == 3  # two workers and the embedded redis-server
        metrics_dirs = {p.environ().get("PROMETHEUS_MULTIPROC_DIR") for p in family} - {None}
        running.proc.send_signal(signal.SIGTERM)
        assert running.proc.wait(20) == 0
    assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert metrics_dirs and not any(Path(d).exists() for d in metrics_dirs if d)


CAP_SCRIPT = """
from server.metrics import Metrics
from prometheus_client import generate_latest
m = Metrics(rep_label_max=1)
m.reps.set_roster({"alice": "north"})
m.reps.offered("alice")
before = generate_latest(m.registry).decode()
m.reps.set_roster({"alice": "north", "bob": "north"})
after = generate_latest(m.registry).decode()
print("leadgrab_rep_offers_total{" in before, "leadgrab_rep_" in after)
"""


def test_rep_label_cap_holds_across_workers(tmp_path: Path) -> None:
    """Multiprocess files keep a cleared series: the scrape must still drop it above the cap."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", CAP_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.stdout.split() == ["True", "False"], done.stderr


async def test_cli_reload_finds_the_supervisors_redis(shared: Farm) -> None:
    config = shared.data.parent / "config.toml"
    done = subprocess.run([*LEADGRAB, "reload", "--config", str(config)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "team north: rules version" in done.stdout, done.stderr
