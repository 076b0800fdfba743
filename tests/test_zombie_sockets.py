"""Server-initiated closes end the TCP connection even when the client never answers (issue 15,
finding 5): a slow reader closed with 4004, a peer that stops answering pings (counted)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.conftest import SECRET
from tests.test_processes import AUTH, Role, serve

pytestmark = pytest.mark.timeout(90)
CUT_OFF_S = 8.0  # the close timeout (2 s) plus room for a busy machine


def write_config(folder: Path, ping_interval_s: int) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f'[server]\ndata_dir = "{folder / "data"}"\nsecret = "{SECRET}"\n'
        f"send_queue_frames = 8\nping_interval_s = {ping_interval_s}\n\n"
        "[teams.north]\nrules = { max_open = 5, max_daily = 5, cooldown_after_claim_ms = 0, "
        'penalty_cooldown_ms = 0 }\n\n[[reps]]\nid = "r001"\nteam = "north"\n')
    return path


@contextmanager
def mute_client(base: str) -> Iterator[socket.socket]:
    """A WebSocket client that says hello, then never reads again nor answers anything."""
    port = int(base.rsplit(":", 1)[1])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    token = AUTH.mint(Role.REP, "r001", team="north", ttl_s=120)
    sock.sendall(masked_text(json.dumps({"type": "hello", "token": token}).encode()))
    try:
        yield sock
    finally:
        sock.close()


def masked_text(payload: bytes) -> bytes:
    mask = os.urandom(4)
    size = len(payload)
    header = bytes((0x81, 0x80 | size)) if size < 126 else \
        bytes((0x81, 0x80 | 126)) + size.to_bytes(2, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def established(proc: subprocess.Popen[bytes], client_port: int) -> bool:
    """Whether the server still holds a TCP connection from this client port."""
    return any(c.raddr and c.raddr.port == client_port and c.status == psutil.CONN_ESTABLISHED
               for c in psutil.Process(proc.pid).net_connections("tcp"))


async def gone_within(proc: subprocess.Popen[bytes], client_port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not established(proc, client_port):
            return True
        await asyncio.sleep(0.2)
    return False


async def disconnects(base: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(base + "/metrics") as resp:
        text = await resp.text()
    counts = {}
    for line in text.splitlines():
        if line.startswith("leadgrab_disconnects_total{"):
            labels, value = line.rsplit(" ", 1)
            counts[labels.split('code="')[1].split('"')[0]] = float(value)
    return counts


async def flood_until_closed(base: str, max_leads: int = 4000) -> None:
    """Publish leads (about 2 kB each) until the server closes the slow reader (4004)."""
    token = AUTH.mint(Role.INTEGRATION, "crm", ttl_s=120)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        for n in range(max_leads):
            body = {"id": f"Z{n:04}", "team": "north", "attrs": {"note": "x" * 2000}}
            async with http.post(base + "/api/leads", json=body) as resp:
                assert resp.status == 201, await resp.text()
            if n % 50 == 49 and "4004" in await disconnects(base):
                return


async def test_a_slow_reader_that_never_answers_the_close_is_cut_off(
        redis: object, redis_url: str, tmp_path: Path) -> None:
    with serve(write_config(tmp_path, ping_interval_s=60), redis_url) as (proc, base), \
            mute_client(base) as client:
        port = client.getsockname()[1]
        await flood_until_closed(base)
        assert (await disconnects(base)).get("4004") == 1
        assert await gone_within(proc, port, CUT_OFF_S), "still ESTABLISHED after the close"


async def test_a_peer_that_stops_answering_pings_is_dropped_and_counted(
        redis: object, redis_url: str, tmp_path: Path) -> None:
    with serve(write_config(tmp_path, ping_interval_s=1), redis_url) as (proc, base), \
            mute_client(base) as client:
        port = client.getsockname()[1]
        assert await gone_within(proc, port, CUT_OFF_S)
        assert (await disconnects(base)).get("1006") == 1
