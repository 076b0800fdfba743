"""Clients find the server from the config, say once when it is gone, and never hang on it."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer, unused_port
from redis.asyncio import Redis

from clients import address
from clients.client import LeadGrabClient, Unavailable
from clients.rep import RepSession
from server.app import create_app
from server.config import parse_config
from server.store.embedded import EmbeddedRedis
from server.web.auth import Role, TokenAuthority
from tests.conftest import BASE_CONFIG, ROOT, SECRET, Gateway, gateway_config
from tests.terminal import MAIN
from tests.test_redis_down import http

AUTH = TokenAuthority(SECRET)
FAST = {"backoff_base_s": 0.01, "backoff_cap_s": 0.05}


def config_file(folder: Path, port: int, extra: str = "") -> Path:
    """The test config with `[server] host/port` (and `extra` settings) as a file."""
    server = (f'[server]\nhost = "127.0.0.1"\nport = {port}\ndata_dir = "{folder}"\n'
              f'secret = "{SECRET}"\n{extra}\n')
    path = folder / "config.toml"
    path.write_text(server + BASE_CONFIG.replace("[server]\nstream_maxlen = 10000\n", ""))
    return path


async def leadgrab(*argv: str, timeout_s: float = 15) -> tuple[int, str, str]:
    """`leadgrab argv...` as a child process (stdin closed): exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", MAIN, *argv, cwd=ROOT, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def port_of(gw: Gateway) -> int:
    port = gw.server.port
    assert port is not None and port != 8080
    return port


async def test_rep_and_publish_dial_the_configured_port(gateway: Gateway, tmp_path: Path) -> None:
    config = config_file(tmp_path, port_of(gateway))
    code, out, err = await leadgrab("publish", "--config", str(config), "--team", "north",
                                    "--value", "10", "--id", "CP1", "--region", "north")
    assert (code, json.loads(out)["lead_id"]) == (0, "CP1"), err
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", MAIN, "rep", "--config", str(config), "--token",
        gateway.token("bob"), cwd=ROOT, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert line.decode().startswith("connected as bob (team north)")
    finally:
        proc.kill()
        await proc.wait()


async def test_public_url_wins_over_host_and_port(gateway: Gateway, tmp_path: Path) -> None:
    config = config_file(tmp_path, unused_port(), f'public_url = "{gateway.url("/")}"')
    code, _, err = await leadgrab("publish", "--config", str(config), "--team", "north",
                                  "--value", "10", "--id", "PU1")
    assert code == 0, err


@pytest.mark.parametrize("command", ["rep", "publish"])
async def test_server_down_is_one_line_naming_the_address(tmp_path: Path, command: str) -> None:
    port = unused_port()
    config = config_file(tmp_path, port)
    token = AUTH.mint(Role.REP, "bob", team="north", ttl_s=600)
    args = ["--config", str(config), "--token", token]
    if command == "publish":
        args += ["--team", "north", "--value", "1"]
    code, out, err = await leadgrab(command, *args)
    url = f"ws://127.0.0.1:{port}/ws" if command == "rep" else f"http://127.0.0.1:{port}"
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith(
        f"leadgrab {command}: cannot reach the server at {url} ("), err


def test_url_override_and_defaults() -> None:
    config = parse_config(BASE_CONFIG.replace("stream_maxlen = 10000",
                                              'host = "0.0.0.0"\nport = 9090'))
    assert address.base_url(config) == "http://127.0.0.1:9090"
    assert address.ws_url(config) == "ws://127.0.0.1:9090/ws"
    assert address.ws_url(config, "http://leads.example.com:81") == "ws://leads.example.com:81/ws"
    assert address.ws_url(config, "wss://h/ws") == "wss://h/ws"
    assert address.base_url(config, "ws://h:1/ws") == "http://h:1"
    public = parse_config(BASE_CONFIG.replace(
        "stream_maxlen = 10000", 'public_url = "https://leads.example.com/crm/"'))
    assert address.ws_url(public) == "wss://leads.example.com/crm/ws"
    assert address.base_url(None) == "http://127.0.0.1:8080"
    v6 = parse_config(BASE_CONFIG.replace("stream_maxlen = 10000", 'host = "::1"'))
    assert address.ws_url(v6) == "ws://[::1]:8080/ws"


async def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = await leadgrab("--version")
    assert code == 0 and out.startswith("leadgrab 0.")


async def test_claim_resolves_when_the_store_is_down(tmp_path: Path) -> None:
    """It hung for ever on `error unavailable`; now Unavailable names the req_id to retry."""
    redis = EmbeddedRedis(tmp_path / "redis")
    url = await redis.start()
    try:
        async with TestServer(create_app(gateway_config(tmp_path), redis=url)) as server:
            ws = str(server.make_url("/ws")).replace("http", "ws", 1)
            token = AUTH.mint(Role.REP, "bob", team="north", ttl_s=600)
            out = io.StringIO()
            async with LeadGrabClient(ws, token, **FAST) as bob:
                session = RepSession(bob, out=out)
                running = asyncio.create_task(session.run())
                integration = AUTH.mint(Role.INTEGRATION, "crm", ttl_s=600)
                assert (await http(server, "POST", "/api/leads",
                                   {"id": "U1", "team": "north", "region": "north"},
                                   integration))[0] == 201
                await redis.stop()
                with pytest.raises(Unavailable) as failed:
                    await asyncio.wait_for(bob.claim("U1", "keep-1"), 5)
                assert (failed.value.req_id, failed.value.lead_id) == ("keep-1", "U1")
                before = len(out.getvalue())
                session.on_key("claim U1")
                await until(lambda: "`claim U1` retries it with the same req_id" in out.getvalue())
                await asyncio.sleep(0.1)
                assert "error unavailable" not in out.getvalue()[before:]  # said once, by the claim
                with pytest.raises(Unavailable):
                    await asyncio.wait_for(bob.release("U1"), 5)
                session.on_key("pause")
                await until(lambda: "not done: the server is temporarily unavailable"
                            in out.getvalue())
                await redis.start()
                await asyncio.sleep(0.5)
                session.on_key("claim U1")
                await until(lambda: "claim U1: won" in out.getvalue())
                released = await asyncio.wait_for(bob.release("U1"), 5)  # answers still match
                assert (released["action"], released["ok"]) == ("release", True)
                await bob.aclose()
                await asyncio.wait_for(running, 5)
    finally:
        await redis.stop()


async def until(check: Callable[[], bool], timeout_s: float = 5) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():
            await asyncio.sleep(0.02)


async def test_reconnects_are_reported_once_per_change(
    redis: Redis, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    port = unused_port()
    changes: list[str] = []
    app = create_app(gateway_config(tmp_path), redis=redis_url)
    server = TestServer(app, port=port)
    await server.start_server()
    token = AUTH.mint(Role.REP, "bob", team="north", ttl_s=600)
    url = f"ws://127.0.0.1:{port}/ws"
    out = io.StringIO()

    def status(state: str, detail: str) -> None:
        changes.append(state)
        session.on_status(state, detail)

    client = LeadGrabClient(url, token, on_status=status, **FAST)
    session = RepSession(client, out=out)
    logged = LeadGrabClient(url, token, **FAST)  # the default: a log line per change
    caplog.set_level(logging.INFO, "clients.client")
    try:
        await asyncio.wait_for(client.connect(), 5)
        await asyncio.wait_for(logged.connect(), 5)
        await server.close()
        await asyncio.sleep(1.5)  # dozens of failed attempts at this backoff
        assert changes == ["live", "lost"]
        server = TestServer(create_app(gateway_config(tmp_path), redis=redis_url), port=port)
        await server.start_server()
        await until(lambda: changes[-1] == "live", 10)
        assert changes == ["live", "lost", "live"]
        await asyncio.wait_for(logged.connect(), 10)
        said = out.getvalue().splitlines()
        assert len(said) == 2, said
        assert said[0].startswith("connection lost (") and said[0].endswith(
            f"; reconnecting to {url} ...")
        assert said[1] == f"reconnected to {url}"
    finally:
        await client.aclose()
        await logged.aclose()
        await server.close()
    lines = [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records
             if r.name == "clients.client"]
    assert lines == [("INFO", f"connected to {url}"), ("WARNING", "connection lost"),
                     ("INFO", f"connected to {url}")], lines
