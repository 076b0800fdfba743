"""The load tester's lean WebSocket connection, against the real gateway and a `websockets` peer."""

from __future__ import annotations

import asyncio
import json
import pickle
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from loadtest.connection import Connection, Message
from loadtest.histogram import Latency
from server.protocol import CloseCode
from server.web.auth import Role
from tests.conftest import Gateway

JSON = "leadgrab.v1.json"


async def hello(conn: Connection, token: str) -> dict[str, object]:
    conn.send(json.dumps({"type": "hello", "token": token}))
    frame: dict[str, object] = json.loads(await asyncio.wait_for(conn.recv(), 5))
    return frame


async def test_it_speaks_v1_with_the_gateway_and_hands_frames_to_a_handler(
        gateway: Gateway) -> None:
    conn = await Connection.open(gateway.ws_url, JSON)
    assert (await hello(conn, gateway.token("alice")))["type"] == "welcome"
    seen: list[Message] = []
    got_lead = asyncio.Event()

    def handler(message: Message) -> None:
        seen.append(message)
        got_lead.set()

    conn.handler = handler
    body = {"id": "L1", "team": "north", "region": "north"}
    headers = {"Authorization": f"Bearer {gateway.role_token(Role.INTEGRATION)}"}
    async with aiohttp.ClientSession() as http, \
            http.post(gateway.url("/api/leads"), json=body, headers=headers) as resp:
        assert resp.status in (200, 201)
    await asyncio.wait_for(got_lead.wait(), 5)
    assert isinstance(seen[0], str) and json.loads(seen[0])["lead_id"] == "L1"
    await conn.close()
    assert conn.close_code == 1000 and conn.lost.done()


async def test_a_server_close_ends_recv_and_send_with_its_code(gateway: Gateway) -> None:
    conn = await Connection.open(gateway.ws_url, JSON)
    assert (await hello(conn, "not-a-token"))["code"] == "auth_failed"
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(conn.recv(), 5)
    await asyncio.wait_for(conn.wait_closed(), 5)
    assert conn.close_code == CloseCode.AUTH_FAILED
    with pytest.raises(ConnectionClosed):
        conn.send("{}")


async def test_a_refused_upgrade_raises_invalid_status(gateway: Gateway) -> None:
    with pytest.raises(InvalidStatus):
        await Connection.open(gateway.ws_url.replace("/ws", "/no-such-path"), JSON)


@asynccontextmanager
async def peer(handler: object) -> AsyncIterator[str]:
    async with serve(handler, "127.0.0.1", 0) as server:  # type: ignore[arg-type]
        host, port = next(iter(server.sockets)).getsockname()[:2]
        yield f"ws://{host}:{port}/"


async def test_fragments_pings_and_an_abrupt_end() -> None:
    pongs: list[float] = []

    async def talk(ws: ServerConnection) -> None:
        pongs.append(await asyncio.wait_for(await ws.ping(), 5))  # answered by the protocol
        await ws.send(["frag", "mented"])  # one text message in three frames
        await ws.send(b"\x00\x01")
        ws.transport.close()  # TCP closes after the buffered frames, with no closing handshake

    async with peer(talk) as url:
        conn = await Connection.open(url, JSON)
        assert await asyncio.wait_for(conn.recv(), 5) == "fragmented"
        assert await asyncio.wait_for(conn.recv(), 5) == b"\x00\x01"
        await asyncio.wait_for(conn.wait_closed(), 5)
        assert conn.close_code == 1006 and len(pongs) == 1


def test_latency_records_without_the_hdr_arithmetic_and_ships_everything() -> None:
    latency = Latency()
    for us in (0, 5, 10, 10, 2_000):
        latency.record_us(us)
    assert latency.count == 5  # counted before anything reached the histogram
    shipped = pickle.loads(pickle.dumps(latency))
    shipped.record_us(300)
    merged = Latency()
    merged.add(shipped)
    summary = merged.summary()
    assert summary["count"] == 6 and summary["max"] == 2.0 and summary["p50"] == 0.01
