"""The batcher's own Redis connection: batches written as they come, replies read in order.

A batch used to take a connection from the pool, write, wait for its replies under a timeout
and give the connection back: a pool checkout (a health read under a timeout), a task, a
timeout context and a reader per batch, about a fifth of the gateway's CPU per claim. Here one
connection, taken from the pool once, carries every batch, as a multiplexing client does:
a batch is one write from the loop's callback; one task reads the replies with one hiredis
reader and hands each to its call, in the order the calls were written (Redis answers a
connection's commands in order). The replies, error replies included, are the ones
redis-py would give. A fault (Redis gone, a protocol error, no reply within the connection's
`socket_timeout`) fails every call in flight and drops the connection; the next batch opens
another.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

import hiredis
from redis import exceptions as rexc
from redis._parsers import BaseParser
from redis.asyncio.connection import AbstractConnection, ConnectionPool

READ_BYTES = 65536
_MORE = object()  # what the reader answers while a reply is incomplete
# Hands one call its reply (an exception object for an error reply or a fault)
Deliver = Callable[[Any, Any], None]


class Line:
    """One pooled connection with its reader task: `send` writes calls, `deliver` hands each
    its reply; `fault` hears first when the line fails."""

    def __init__(self, pool: ConnectionPool, conn: AbstractConnection,
                 stream: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 deliver: Deliver, fault: Callable[[Line], None]) -> None:
        self.pool, self.conn, self.transport = pool, conn, writer.transport
        self.calls: deque[Any] = deque()  # written and not yet answered, oldest first
        self.sent_at: deque[tuple[int, float]] = deque()  # (calls written by its end, when)
        self.written = self.answered = 0
        self.open = True
        self._deliver, self._fault = deliver, fault
        self._loop = asyncio.get_running_loop()
        self._watch: asyncio.TimerHandle | None = None
        self._dropped: asyncio.Task[None] | None = None
        self._task = self._loop.create_task(self._read(stream, _reader(conn)))

    @classmethod
    async def open_on(cls, pool: ConnectionPool, deliver: Deliver,
                      fault: Callable[[Line], None]) -> Line | None:
        """A line on a connection from `pool`; None where redis-py keeps no asyncio streams
        (then the batcher uses redis-py's pipeline). Raises the driver's connection errors."""
        conn: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
        reader, writer = getattr(conn, "_reader", None), getattr(conn, "_writer", None)
        if isinstance(reader, asyncio.StreamReader) and isinstance(writer, asyncio.StreamWriter):
            return cls(pool, conn, reader, writer, deliver, fault)
        await pool.release(conn)
        return None

    def send(self, data: bytes, calls: list[Any]) -> None:
        """Write `data`, one command per call; each call will be delivered its reply."""
        self._forget_answered()
        self.written += len(calls)
        self.sent_at.append((self.written, self._loop.time()))
        self.calls.extend(calls)
        self.transport.write(data)
        if self._watch is None and self.conn.socket_timeout:
            self._watch = self._loop.call_later(self.conn.socket_timeout, self._check)

    def _check(self) -> None:
        """The timeout, armed while calls are in flight: the oldest write unanswered for the
        connection's `socket_timeout` fails the line (as redis-py fails a read)."""
        self._watch = None
        self._forget_answered()
        if not self.calls or not self.open:
            return
        timeout = self.conn.socket_timeout or 0
        waited = self._loop.time() - self.sent_at[0][1] if self.sent_at else 0.0
        if waited >= timeout:
            self.fail(rexc.TimeoutError("Timeout reading from Redis"))
        else:
            self._watch = self._loop.call_later(timeout - waited, self._check)

    def _forget_answered(self) -> None:
        """Drop the times of writes whose every call is answered."""
        sent_at = self.sent_at
        while sent_at and sent_at[0][0] <= self.answered:
            sent_at.popleft()

    async def _read(self, stream: asyncio.StreamReader, reader: hiredis.Reader) -> None:
        try:
            while True:
                chunk = await stream.read(READ_BYTES)
                if not chunk:
                    raise rexc.ConnectionError("Connection closed by server.")
                reader.feed(chunk)
                reply = reader.gets()
                while reply is not _MORE:
                    if isinstance(reply, rexc.ConnectionError):  # e.g. LOADING: a fault
                        raise reply
                    if not self.calls:
                        raise rexc.InvalidResponse("a reply nothing was sent for")
                    self.answered += 1
                    self._deliver(self.calls.popleft(), reply)
                    reply = reader.gets()
        except asyncio.CancelledError:
            self.fail(rexc.ConnectionError("The Redis connection was closed."))
            raise
        except Exception as exc:  # nothing may leave calls waiting on a line nobody reads
            self.fail(exc if isinstance(exc, rexc.RedisError)
                      else rexc.ConnectionError(f"Error while talking to Redis: {exc}"))

    def fail(self, exc: BaseException) -> None:
        """Every call in flight gets `exc`; the connection is dropped (once)."""
        if not self.open:
            return
        self.open = False
        if self._watch is not None:
            self._watch.cancel()
        calls, self.calls = self.calls, deque()
        self._fault(self)
        for call in calls:
            self._deliver(call, exc)
        if self._task is not asyncio.current_task():
            self._task.cancel()
        self._dropped = self._loop.create_task(self._drop())

    async def _drop(self) -> None:
        with contextlib.suppress(Exception):
            await self.conn.disconnect()
        with contextlib.suppress(Exception):
            await self.pool.release(self.conn)

    async def aclose(self) -> None:
        """Fail what is in flight and give the connection back."""
        if self.open:
            self.fail(rexc.ConnectionError("The Redis connection was closed."))
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._dropped is not None:
            await self._dropped


def _reader(conn: AbstractConnection) -> hiredis.Reader:
    """A reader decoding as the connection's client does, error replies parsed by redis-py's
    own table (NOSCRIPT -> NoScriptError, ...)."""
    encoder = conn.encoder
    if encoder.decode_responses:
        return hiredis.Reader(protocolError=rexc.InvalidResponse, notEnoughData=_MORE,
                              replyError=BaseParser.parse_error, encoding=encoder.encoding,
                              errors=encoder.encoding_errors)
    return hiredis.Reader(protocolError=rexc.InvalidResponse, notEnoughData=_MORE,
                          replyError=BaseParser.parse_error)
