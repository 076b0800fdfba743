"""A batch's round trip read by one hiredis reader gives what redis-py's read_response gives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis import exceptions as rexc
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

from server.store import backend, wire

# replies of every shape: status, integer, nil, bulk, nested array, error replies
COMMANDS = [
    ("SET", "k", "v"), ("INCR", "n"), ("GET", "missing"), ("GET", "k"),
    ("EVAL", "return {1, 'two', {3}, false}", "0"), ("INCR", "k"),
    ("EVALSHA", "0" * 40, "0"), ("GET", "k"),
]


@pytest.fixture
async def conn(redis_url: str, redis: Redis) -> AsyncIterator[tuple[Redis, AbstractConnection]]:
    client = await backend.connect(redis_url)
    assert isinstance(client, Redis)
    connection: AbstractConnection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        yield client, connection
    finally:
        await client.connection_pool.release(connection)
        await client.aclose()


def _packed(commands: list[tuple[str, ...]], conn: AbstractConnection) -> bytes:
    return b"".join(b"".join(conn.pack_command(*command)) for command in commands)


def _shown(replies: list[Any]) -> list[Any]:
    """Replies comparable across calls: an error by its type and message."""
    return [(type(r).__name__, str(r)) if isinstance(r, Exception) else r for r in replies]


async def _by_redis_py(conn: AbstractConnection, commands: list[tuple[str, ...]]) -> list[Any]:
    await conn.send_packed_command(_packed(commands, conn))
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(await conn.read_response())
        except rexc.ResponseError as exc:
            replies.append(exc)
    return replies


async def test_replies_match_redis_py(conn: tuple[Redis, AbstractConnection]) -> None:
    _, c = conn
    ours = await wire.exchange(c, _packed(COMMANDS, c), len(COMMANDS))
    await c.send_command("FLUSHDB")
    assert await c.read_response() == "OK"
    theirs = await _by_redis_py(c, COMMANDS)
    assert _shown(ours) == _shown(theirs)
    assert isinstance(ours[6], rexc.NoScriptError)
    assert ours[1] == 1 and ours[3] == "v" and ours[4] == [1, "two", [3], None]


async def test_a_large_batch_spans_many_reads(conn: tuple[Redis, AbstractConnection]) -> None:
    _, c = conn
    value = "x" * 5000
    commands = [("SET", f"k{n}", value) for n in range(50)] + [
        ("GET", f"k{n}") for n in range(50)]
    replies = await wire.exchange(c, _packed(commands, c), len(commands))
    assert replies == ["OK"] * 50 + [value] * 50
    assert await c.can_read() is False  # nothing left behind for the next user


async def test_the_fallback_without_streams_gives_the_same(
        conn: tuple[Redis, AbstractConnection], monkeypatch: pytest.MonkeyPatch) -> None:
    _, c = conn
    monkeypatch.setattr(wire, "streams", lambda _conn: None)
    ours = await wire.exchange(c, _packed(COMMANDS, c), len(COMMANDS))
    await c.send_command("FLUSHDB")
    await c.read_response()
    monkeypatch.undo()
    theirs = await wire.exchange(c, _packed(COMMANDS, c), len(COMMANDS))
    assert _shown(ours) == _shown(theirs)


async def test_a_connection_redis_closed_is_a_connection_error(
        conn: tuple[Redis, AbstractConnection], redis: Redis) -> None:
    """Redis dropped the connection (a restart, CLIENT KILL): the batch fails as a fault."""
    _, c = conn
    await redis.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    with pytest.raises(rexc.ConnectionError):
        await wire.exchange(c, _packed([("GET", "k")], c), 1)


async def test_a_silent_server_times_out(conn: tuple[Redis, AbstractConnection]) -> None:
    _, c = conn
    c.socket_timeout = 0.2
    busy = ("EVAL", "local function us() local t = redis.call('TIME') return t[1] * 1e6 + t[2]"
            " end local start = us() while us() - start < 500000 do end return 1", "0")
    with pytest.raises(rexc.TimeoutError):
        await wire.exchange(c, _packed([busy], c), 1)
