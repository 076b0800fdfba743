"""The fast WebSocket write path: frames websockets can parse, and nothing after a Close."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import asynccontextmanager
from typing import TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from websockets.frames import Close, Frame, Opcode
from websockets.streams import StreamReader

from server.web.socket_sink import SocketSink, frame_bytes

SIZES = [0, 125, 126, 65_535, 65_536]
T = TypeVar("T")
HEADER_BYTES = {0: 2, 125: 2, 126: 4, 65_535: 4, 65_536: 10}


def parse_frames(data: bytes) -> list[Frame]:
    """Every server frame in `data`, parsed by the websockets package (unmasked, no limit)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    while not _run(reader.at_eof()):
        frames.append(_run(Frame.parse(reader.read_exact, mask=False)))
    return frames


def _run(parser: Generator[None, None, T]) -> T:
    """Drive one of websockets' generator-based parsers over data already fed."""
    try:
        while True:
            next(parser)
    except StopIteration as done:
        value: T = done.value
        return value


@pytest.mark.parametrize("size", SIZES)
def test_binary_frames_of_every_length_form(size: int) -> None:
    payload = os.urandom(size)
    wire = frame_bytes(payload)
    [frame] = parse_frames(wire)
    assert (frame.opcode, frame.fin, frame.data) == (Opcode.BINARY, True, payload)
    assert len(wire) == HEADER_BYTES[size] + size


@pytest.mark.parametrize("size", SIZES)
def test_text_frames_of_every_length_form(size: int) -> None:
    text = "x" * size
    wire = frame_bytes(text)
    [frame] = parse_frames(wire)
    assert (frame.opcode, frame.fin, bytes(frame.data).decode()) == (Opcode.TEXT, True, text)
    assert len(wire) == HEADER_BYTES[size] + size


def test_text_length_counts_utf8_bytes_not_characters() -> None:
    text = "抢" * 42  # 42 characters, 126 bytes: the 16-bit length form
    [frame] = parse_frames(frame_bytes(text))
    assert bytes(frame.data).decode() == text and len(frame_bytes(text)) == 4 + 126


def test_frames_written_back_to_back_parse_one_by_one() -> None:
    parts: list[str | bytes] = ["a" * 125, b"b" * 126, "c" * 65_536]
    frames = parse_frames(b"".join(frame_bytes(part) for part in parts))
    assert [f.data for f in frames] == [b"a" * 125, b"b" * 126, b"c" * 65_536]


Handler = Callable[[web.WebSocketResponse, SocketSink], Awaitable[None]]


@asynccontextmanager
async def raw_socket(handler: Handler) -> AsyncIterator[
        tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A real aiohttp server running `handler`, and a raw TCP client past the upgrade."""

    async def endpoint(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoclose=False, timeout=0.5)
        await ws.prepare(request)
        await handler(ws, SocketSink(ws, request.transport))
        return ws

    app = web.Application()
    app.router.add_get("/ws", endpoint)
    async with TestServer(app) as server:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(f"GET /ws HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        try:
            yield reader, writer
        finally:
            writer.close()


def client_close() -> bytes:
    return Frame(Opcode.CLOSE, Close(1000, "bye").serialize()).serialize(mask=True)


async def test_no_fast_write_once_the_server_sent_close() -> None:
    wrote: list[bool] = []

    async def handler(ws: web.WebSocketResponse, sink: SocketSink) -> None:
        wrote.append(sink.write_now(frame_bytes("before")))
        closing = asyncio.create_task(ws.close(code=4005, message=b"restart"))
        await asyncio.sleep(0)  # close() has begun: its Close frame is on its way
        wrote.append(sink.write_now(frame_bytes("after")))
        await closing

    async with raw_socket(handler) as (reader, _):
        frames = parse_frames(await asyncio.wait_for(reader.read(), 5))
    assert wrote == [True, False]
    assert [f.opcode for f in frames] == [Opcode.TEXT, Opcode.CLOSE]
    assert frames[0].data == b"before" and Close.parse(frames[1].data).code == 4005


async def test_no_fast_write_once_the_client_sent_close() -> None:
    wrote: list[bool] = []

    async def handler(ws: web.WebSocketResponse, sink: SocketSink) -> None:
        wrote.append(sink.write_now(frame_bytes("before")))
        msg = await ws.receive()
        assert msg.type is web.WSMsgType.CLOSE and not ws.closed  # received, not yet answered
        wrote.append(sink.write_now(frame_bytes("after")))
        await ws.close()

    async with raw_socket(handler) as (reader, writer):
        assert parse_frames(await reader.readexactly(2 + 6))[0].data == b"before"
        writer.write(client_close())
        frames = parse_frames(await asyncio.wait_for(reader.read(), 5))
    assert wrote == [True, False]
    assert [f.opcode for f in frames] == [Opcode.CLOSE]
