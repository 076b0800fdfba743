"""The hub's sink for one aiohttp WebSocket: its fast path writes whole frames to the socket."""

from __future__ import annotations

import asyncio
import contextlib
import struct

from aiohttp import web

from server.fanout.connection import Wire

WRITE_HIGH_WATER = 64 * 1024  # above it, frames wait in the connection's bounded queue
CLOSE_TIMEOUT_S = 2.0  # a peer that does not complete the close handshake by then is cut off
_FIN = 0x80
_TEXT, _BINARY = 0x1, 0x2


def frame_bytes(data: Wire) -> bytes:
    """A complete unmasked server frame (RFC 6455 §5.2): FIN, text or binary, no compression.

    The payload length takes 7 bits up to 125, then 16 bits (126) up to 65,535, then 64 bits.
    """
    payload, opcode = (data.encode(), _TEXT) if isinstance(data, str) else (data, _BINARY)
    size = len(payload)
    if size < 126:
        header = bytes((_FIN | opcode, size))
    elif size < 65536:
        header = struct.pack("!BBH", _FIN | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", _FIN | opcode, 127, size)
    return header + payload


class SocketSink:
    """Adapts an aiohttp WebSocketResponse to the hub's Sink."""

    __slots__ = ("transport", "ws")

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None = None,
                 ) -> None:
        self.ws = ws
        self.transport = transport

    def prepare(self, data: Wire) -> bytes:
        """The bytes `write_now` puts on the wire for this frame (the same for every socket)."""
        return frame_bytes(data)

    def write_now(self, prepared: bytes) -> bool:
        """Write the prepared frame if the socket is open, not closing and its buffer is below
        the high-water mark; False sends the frame the slow way (aiohttp's writer)."""
        transport, ws = self.transport, self.ws
        if transport is None or transport.is_closing():
            return False
        # no data frame may follow a Close (RFC 6455 §5.5.1): aiohttp marks `closed` before it
        # writes its Close, and sets `close_code` when it reads the peer's
        if ws.closed or ws.close_code is not None:
            return False
        if transport.get_write_buffer_size() > WRITE_HIGH_WATER:
            return False
        transport.write(prepared)
        return True

    async def send(self, data: Wire) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def close(self, code: int, message: str) -> None:
        """Close; abort the transport if a stalled reader keeps the close frame from going out."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self.ws.close(code=code, message=message.encode()[:120])
        self.cut_off()

    def cut_off(self) -> None:
        """End the TCP connection now if bytes are still stuck in its buffer: a plain close
        waits for them to drain, for ever when the peer never reads."""
        transport = self.transport
        if transport is not None and transport.get_write_buffer_size() > 0:
            transport.abort()
