"""One batch's round trip on a pooled connection: one write, every reply read by one hiredis
reader fed straight from the connection's stream.

redis-py reads a pipeline's replies one `read_response` at a time: four layers of calls and a
timeout context per reply, about 8 µs of the gateway's CPU per claim. Here the batch has one
timeout (the connection's `socket_timeout`, as redis-py applies it to each read) and one
reader; the replies, error replies included, are the ones redis-py would give.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hiredis
from redis import exceptions as rexc
from redis._parsers import BaseParser
from redis.asyncio.connection import AbstractConnection

READ_BYTES = 65536
_MORE = object()  # what the reader answers while a reply is incomplete


def streams(conn: AbstractConnection) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """The connection's stream pair, or None where redis-py keeps no asyncio streams (then the
    batch goes through its `send_packed_command` and `read_response`)."""
    reader, writer = getattr(conn, "_reader", None), getattr(conn, "_writer", None)
    if isinstance(reader, asyncio.StreamReader) and isinstance(writer, asyncio.StreamWriter):
        return reader, writer
    return None


async def exchange(conn: AbstractConnection, data: bytes, count: int) -> list[Any]:
    """Write `data` (`count` commands) and read their `count` replies; an error reply is its
    command's result (an exception object), a fault raises (the caller drops the
    connection)."""
    pair = streams(conn)
    if pair is None:
        await conn.send_packed_command(data, check_health=False)
        return [await _reply(conn) for _ in range(count)]
    try:
        async with asyncio.timeout(conn.socket_timeout):
            return await _round_trip(*pair, _reader(conn), data, count)
    except TimeoutError:
        raise rexc.TimeoutError("Timeout reading from Redis") from None
    except OSError as exc:
        raise rexc.ConnectionError(f"Error while talking to Redis: {exc}") from exc


async def _round_trip(stream: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      reader: hiredis.Reader, data: bytes, count: int) -> list[Any]:
    writer.write(data)
    await writer.drain()
    replies: list[Any] = []
    while len(replies) < count:
        reply = reader.gets()
        if reply is _MORE:
            chunk = await stream.read(READ_BYTES)
            if not chunk:
                raise rexc.ConnectionError("Connection closed by server.")
            reader.feed(chunk)
        elif isinstance(reply, rexc.ConnectionError):  # e.g. LOADING: as redis-py, a fault
            raise reply
        else:
            replies.append(reply)
    return replies


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


async def _reply(conn: AbstractConnection) -> Any:
    try:
        return await conn.read_response()
    except rexc.ResponseError as exc:  # an error reply (e.g. NOSCRIPT) belongs to its call
        return exc
