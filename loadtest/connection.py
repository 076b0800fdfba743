"""A lean WebSocket client connection: `websockets`' Sans-I/O protocol on an asyncio Protocol.

The load generator's own cost is part of every latency it measures. `websockets`' asyncio
connection hands each message through an assembler and a waiting task (≈ 25 µs of CPU per
frame on the benchmark machine); here the protocol parses in `data_received` and a handler
sees each message at once, on the same call. Handshake, framing, masking, ping replies and
the closing handshake are still `websockets`' (its documented Sans-I/O layer).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

Message = str | bytes
Handler = Callable[[Message], Any]
CLOSE_LINGER_S = 2.0  # how long to wait for the server to close TCP after the close frames


class Connection(asyncio.Protocol):
    """One client WebSocket. Messages go to `handler` when one is set, else to `recv()`."""

    def __init__(self, protocol: ClientProtocol) -> None:
        self.protocol = protocol
        self.transport: asyncio.Transport | None = None
        self.handler: Handler | None = None
        self.inbox: deque[Message] = deque()
        self.fragments: list[bytes] = []
        self.fragment_text = False
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.waiter: asyncio.Future[None] | None = None
        self.linger: asyncio.TimerHandle | None = None

    @classmethod
    async def open(cls, url: str, subprotocol: str, *, compression: bool = False,
                   max_size: int = 1 << 20) -> Connection:
        """Connect and complete the opening handshake (raises websockets' InvalidHandshake
        or OSError)."""
        uri = parse_uri(url)
        protocol = ClientProtocol(
            uri, subprotocols=[Subprotocol(subprotocol)], max_size=max_size,
            extensions=[ClientPerMessageDeflateFactory()] if compression else None)
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(lambda: cls(protocol), uri.host, uri.port,
                                               ssl=uri.secure or None)
        try:
            await conn.opened
        except BaseException:
            conn.abort()
            raise
        return conn

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's: not a subclass
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                self._frame(event)
            elif isinstance(event, Response):
                self._response()
        self._flush()

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent; after an abrupt end close_code is 1006
        if self.linger is not None:
            self.linger.cancel()
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.lost.done():
            self.lost.set_result(None)
        self._wake()

    # messages

    def _response(self) -> None:
        if self.opened.done():
            return
        if self.protocol.handshake_exc is not None:
            self.opened.set_exception(self.protocol.handshake_exc)
        else:
            self.opened.set_result(None)

    def _frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.TEXT or frame.opcode is Opcode.BINARY:
            if frame.fin:
                self._deliver(str(frame.data, "utf-8") if frame.opcode is Opcode.TEXT
                              else bytes(frame.data))
                return
            self.fragments, self.fragment_text = [bytes(frame.data)], frame.opcode is Opcode.TEXT
        elif frame.opcode is Opcode.CONT and self.fragments:
            self.fragments.append(bytes(frame.data))
            if frame.fin:
                data, self.fragments = b"".join(self.fragments), []
                self._deliver(data.decode() if self.fragment_text else data)

    def _deliver(self, message: Message) -> None:
        if self.handler is not None:
            self.handler(message)
        else:
            self.inbox.append(message)
            self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _flush(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            else:  # the protocol's end-of-stream marker
                if transport.can_write_eof():
                    transport.write_eof()
        if self.protocol.close_expected() and self.linger is None:
            # our part of the closing handshake is done: the server closes TCP, or we do soon
            self.linger = asyncio.get_running_loop().call_later(CLOSE_LINGER_S, self.abort)

    # the caller's side

    async def recv(self) -> Message:
        """The next message not taken by a handler; raises ConnectionClosed once closed."""
        while not self.inbox:
            if self.lost.done() or self.protocol.state is not State.OPEN:
                raise self.closed_error()
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.inbox.popleft()

    def send(self, message: Message) -> None:
        """Send one message now (the transport buffers); raises ConnectionClosed if closed."""
        if self.protocol.state is not State.OPEN:
            raise self.closed_error()
        if isinstance(message, str):
            self.protocol.send_text(message.encode())
        else:
            self.protocol.send_binary(message)
        self._flush()

    async def close(self, timeout_s: float = 2.0) -> None:
        """Start the closing handshake and wait (bounded) for the server to end it."""
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(1000)
            self._flush()
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self.lost)
        except TimeoutError:
            self.abort()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def wait_closed(self) -> None:
        await asyncio.shield(self.lost)

    @property
    def close_code(self) -> int | None:
        return self.protocol.close_code

    def closed_error(self) -> ConnectionClosed:
        """What `recv` and `send` raise once the connection is closing or closed."""
        if self.protocol.state is State.CLOSED:
            return self.protocol.close_exc
        p = self.protocol
        return ConnectionClosedError(p.close_rcvd, p.close_sent, p.close_rcvd_then_sent)

