"""The batcher's line gives each call the reply redis-py's read_response gives, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis import exceptions as rexc
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

from server.store import backend
from server.store.wire import Line

# replies of every shape: status, integer, nil, bulk, nested array, error replies
COMMANDS = [
    ("SET", "k", "v"), ("INCR", "n"), ("GET", "missing"), ("GET", "k"),
    ("EVAL", "return {1, 'two', {3}, false}", "0"), ("INCR", "k"),
    ("EVALSHA", "0" * 40, "0"), ("GET", "k"),
]
BUSY = ("EVAL", "local function us() local t = redis.call('TIME') return t[1] * 1e6 + t[2]"
        " end local start = us() while us() - start < 500000 do end return 1", "0")


class Taken:
    """What a line delivered, and whether it reported itself failed."""

    def __init__(self) -> None:
        self.replies: dict[int, Any] = {}
        self.lost: list[Line] = []
        self.arrived = asyncio.Event()

    def deliver(self, call: int, reply: Any) -> None:
        self.replies[call] = reply
        self.arrived.set()

    async def all(self, count: int) -> list[Any]:
        while len(self.replies) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 5)
        return [self.replies[n] for n in range(count)]


@pytest.fixture
async def client(redis_url: str, redis: Redis) -> AsyncIterator[Redis]:
    connected = await backend.connect(redis_url)
    assert isinstance(connected, Redis)
    try:
        yield connected
    finally:
        await connected.aclose()


async def _line(client: Redis, taken: Taken) -> Line:
    line = await Line.open_on(client.connection_pool, taken.deliver, taken.lost.append)
    assert line is not None
    return line


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


async def test_replies_match_redis_py(client: Redis, redis: Redis) -> None:
    taken = Taken()
    line = await _line(client, taken)
    line.send(_packed(COMMANDS, line.conn), list(range(len(COMMANDS))))
    ours = await taken.all(len(COMMANDS))
    await line.aclose()
    await redis.flushdb()
    conn: AbstractConnection = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        theirs = await _by_redis_py(conn, COMMANDS)
    finally:
        await client.connection_pool.release(conn)
    assert _shown(ours) == _shown(theirs)
    assert isinstance(ours[6], rexc.NoScriptError)
    assert ours[1] == 1 and ours[3] == "v" and ours[4] == [1, "two", [3], None]


async def test_writes_in_flight_together_are_answered_in_order(client: Redis) -> None:
    """Many writes before any reply is read: each call still gets its own reply."""
    taken = Taken()
    line = await _line(client, taken)
    value = "x" * 5000
    for n in range(50):  # 50 writes, ~250 KB of replies: many reads
        line.send(_packed([("SET", f"k{n}", value), ("INCR", "order")], line.conn),
                  [2 * n, 2 * n + 1])
    for n in range(50):
        line.send(_packed([("GET", f"k{n}")], line.conn), [100 + n])
    replies = await taken.all(150)
    assert replies[:100:2] == ["OK"] * 50
    assert replies[1:100:2] == list(range(1, 51))
    assert replies[100:] == [value] * 50
    assert not line.calls and line.open
    await line.aclose()


async def test_a_connection_redis_closed_fails_what_is_in_flight(
        client: Redis, redis: Redis) -> None:
    """Redis dropped the connection (a restart, CLIENT KILL): the calls in flight fail as a
    fault, the line reports itself lost and gives its connection back."""
    taken = Taken()
    line = await _line(client, taken)
    line.send(_packed([("BLPOP", "nothing", "5")], line.conn), [0])
    await asyncio.sleep(0.1)
    await redis.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    [reply] = await taken.all(1)
    assert isinstance(reply, rexc.ConnectionError)
    assert taken.lost == [line] and not line.open
    await line.aclose()
    assert client.connection_pool._in_use_connections == set()  # type: ignore[attr-defined]


async def test_a_silent_server_times_out(client: Redis, redis: Redis) -> None:
    taken = Taken()
    line = await _line(client, taken)
    line.conn.socket_timeout = 0.2
    line.send(_packed([BUSY], line.conn), [0])
    [reply] = await taken.all(1)
    assert isinstance(reply, rexc.TimeoutError)
    assert taken.lost == [line]
    await line.aclose()


async def test_a_line_that_keeps_answering_does_not_time_out(client: Redis) -> None:
    """The timeout counts from the oldest write still unanswered, not from the first write."""
    taken = Taken()
    line = await _line(client, taken)
    line.conn.socket_timeout = 0.2
    for n in range(8):
        line.send(_packed([("INCR", "n")], line.conn), [n])
        await asyncio.sleep(0.05)
    assert await taken.all(8) == list(range(1, 9))
    await asyncio.sleep(0.3)
    assert line.open and not taken.lost
    await line.aclose()
