"""Real `leadgrab serve` processes: two on one Redis act as one; signals; embedded Redis life."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets

from server.store import keys
from server.web.auth import Role, TokenAuthority
from tests.conftest import SECRET
from tests.helpers.http import publish as publish_lead

LEADGRAB = [sys.executable, "-c", "from server.cli import main; raise SystemExit(main())"]
REPS = 100


def write_config(folder: Path, max_daily: int = 5, redis_url: str = "") -> Path:
    reps = "".join(f'[[reps]]\nid = "r{n:03}"\nteam = "north"\n\n' for n in range(REPS))
    path = folder / "config.toml"
    path.write_text(
        f'[server]\ndata_dir = "{folder / "data"}"\nsecret = "{SECRET}"\n'
        f'redis_url = "{redis_url}"\n\n'
        '[teams.north]\nrules = { max_open = 5, max_daily = %d, '
        'cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }\n\n%s' % (max_daily, reps))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(config: Path, redis_url: str | None) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    args = [*LEADGRAB, "serve", "--config", str(config), "--port", str(port)]
    if redis_url:
        args += ["--redis-url", redis_url]
    log = config.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, log)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)


def wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{base} never became healthy")


AUTH = TokenAuthority(SECRET)


@asynccontextmanager
async def rep_socket(base: str, rep: str) -> AsyncIterator[Any]:
    async with websockets.connect(base.replace("http", "ws") + "/ws") as ws:
        await ws.send(json.dumps({"type": "hello",
                                  "token": AUTH.mint(Role.REP, rep, team="north", ttl_s=60)}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        yield ws


async def next_of(ws: Any, kind: str, timeout_s: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


async def publish(base: str, lead_id: str) -> None:
    """Publish a lead not published before (201: created) to the server at `base`."""
    token = AUTH.mint(Role.INTEGRATION, "crm", ttl_s=60)
    assert (await publish_lead(base, lead_id, token))["created"] is True


@pytest.fixture
def two_servers(redis: Any, redis_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    config = write_config(tmp_path)
    with serve(config, redis_url) as (_, a), serve(config, redis_url) as (_, b):
        yield a, b


async def test_lead_published_on_one_reaches_reps_on_both(two_servers: tuple[str, str]) -> None:
    a, b = two_servers
    async with rep_socket(a, "r001") as on_a, rep_socket(b, "r002") as on_b:
        await publish(b, "L1")
        assert (await next_of(on_a, "lead"))["lead_id"] == "L1"
        assert (await next_of(on_b, "lead"))["lead_id"] == "L1"


async def test_race_across_two_processes_has_one_winner(two_servers: tuple[str, str],
                                                        redis: Any) -> None:
    a, b = two_servers
    sockets = [rep_socket(a if n % 2 else b, f"r{n:03}") for n in range(REPS)]
    conns = [await s.__aenter__() for s in sockets]
    try:
        await publish(a, "HOT")
        await asyncio.gather(*(next_of(ws, "lead") for ws in conns))
        for n, ws in enumerate(conns):
            await ws.send(json.dumps({"type": "claim", "req_id": f"q{n}", "lead_id": "HOT"}))
        results = await asyncio.gather(*(next_of(ws, "claim_result") for ws in conns))
    finally:
        for s in sockets:
            await s.__aexit__(None, None, None)
    outcomes = sorted(r["result"] for r in results)
    assert outcomes.count("won") == 1 and outcomes.count("lost") == REPS - 1
    audit = await redis.xrange(keys.audit("north"))
    assert sum(1 for _, f in audit if f.get("action") == "claim" and f["result"] == "won") == 1


async def test_sighup_and_cli_reload_reach_every_process(redis: Any, redis_url: str,
                                                         tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with serve(config, redis_url) as (proc_a, a), serve(config, redis_url) as (_, b):
        write_config(tmp_path, max_daily=9)
        proc_a.send_signal(signal.SIGHUP)
        await wait_for_version(redis, 2)
        await until_seen(b, 2)  # the other process polls the version once a second
        write_config(tmp_path, max_daily=11)
        done = subprocess.run([*LEADGRAB, "reload", "--config", str(config), "--redis-url",
                               redis_url], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and "rules version 3 (updated)" in done.stdout
        await until_seen(a, 3)
        await until_seen(b, 3)


async def wait_for_version(redis: Any, version: int) -> None:
    async with asyncio.timeout(5):
        while await redis.hget(keys.rules("north"), "version") != str(version):
            await asyncio.sleep(0.05)


async def until_seen(base: str, version: int) -> None:
    """Wait (bounded) until a process greets reps with this rules version, never a later one."""
    async with asyncio.timeout(10):
        while (seen := await rules_version_seen_by(base)) != version:
            assert seen < version
            await asyncio.sleep(0.2)


async def rules_version_seen_by(base: str) -> int:
    async with websockets.connect(base.replace("http", "ws") + "/ws") as ws:
        await ws.send(json.dumps({"type": "hello",
                                  "token": AUTH.mint(Role.REP, "r001", team="north", ttl_s=60)}))
        return int(json.loads(await ws.recv())["rules_version"])


async def test_sigterm_says_going_away_and_stops_embedded_redis(tmp_path: Path) -> None:
    config = write_config(tmp_path)  # no redis_url: the server starts its own
    with serve(config, None) as (proc, base):
        children = subprocess.run(["pgrep", "-P", str(proc.pid), "redis-server"],
                                  capture_output=True, text=True).stdout.split()
        assert len(children) == 1
        async with rep_socket(base, "r001") as ws:
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert proc.wait(10) == 0
    assert not Path(f"/proc/{children[0]}").exists() or _zombie(children[0])
    assert (tmp_path / "data" / "redis").is_dir()


def _zombie(pid: str) -> bool:
    status = Path(f"/proc/{pid}/status").read_text()
    return "\nState:\tZ" in status


@pytest.mark.skipif(os.environ.get("REDIS_URL") is not None, reason="embedded only")
async def test_embedded_data_survives_restart(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with serve(config, None) as (_, base):
        await publish(base, "KEEP")
    with serve(config, None) as (_, base):
        token = AUTH.mint(Role.MANAGER, "m", ttl_s=60)
        async with aiohttp.ClientSession() as http, http.get(
                base + "/api/leads/KEEP", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
