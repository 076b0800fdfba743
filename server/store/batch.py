"""Sends the script calls made during one event-loop tick to Redis as one pipeline.

Each script stays atomic; only the round trips are shared. A call whose script Redis does
not know (after SCRIPT FLUSH or a restart) is loaded and sent again — NOSCRIPT means it
did not run, so resending cannot apply it twice.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis import exceptions as rexc
from redis.asyncio import RedisCluster
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.commands.core import AsyncScript

from server.store.backend import Client
from server.store.keys import ScriptCall
from server.store.wire import exchange

MAX_BATCH = 256
KEEP_IDLE = 2  # connections kept between batches: a pool checkout and release cost ~20 µs
BULK_MEMORY = 10_000  # packed arguments remembered (≈ 2 MB at most)
BULK_MAX_CHARS = 64  # longer arguments (maximal ids) are packed every time, not remembered
_BULK: dict[str, bytes] = {}

Pending = tuple[AsyncScript, ScriptCall, "asyncio.Future[Any]"]
Packed = tuple[Pending, bytes]  # a call and its EVALSHA command, ready to write


class Batcher:
    """Collects script calls and flushes them together on the next loop iteration."""

    def __init__(self, redis: Client) -> None:
        self.redis = redis
        self.pending: list[Pending] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.idle: list[AbstractConnection] = []  # from the pool, clean after a batch

    def submit(self, script: AsyncScript, call: ScriptCall) -> asyncio.Future[Any]:
        """Queue one call; its future gets the reply or the driver's exception."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self.pending:
            loop.call_soon(self._flush)
        self.pending.append((script, call, future))
        return future

    def _flush(self) -> None:
        while self.pending:
            batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
            task = asyncio.get_running_loop().create_task(self._send(batch))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _send(self, pending: list[Pending]) -> None:
        batch = _packed(pending)
        if not batch:
            return
        try:
            replies = await self._execute(batch)
            missing = [i for i, r in enumerate(replies) if isinstance(r, rexc.NoScriptError)]
            if missing:
                await self._load({batch[i][0][0] for i in missing})
                again = await self._execute([batch[i] for i in missing])
                for i, reply in zip(missing, again, strict=True):
                    replies[i] = reply
        except BaseException as exc:  # the whole batch shares the fault, cancellation too
            for (_, _, future), _ in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for ((_, _, future), _), reply in zip(batch, replies, strict=True):
            if future.done():
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _execute(self, batch: list[Packed]) -> list[Any]:
        """One write of every EVALSHA, then their replies in order, on one pooled connection.

        Packed here rather than through redis-py's pipeline: its generic packing and reply
        bookkeeping were a fifth of the gateway's CPU under claim load. An error reply is
        that call's result; a connection fault fails the batch and drops the connection.
        """
        if isinstance(self.redis, RedisCluster):
            return await self._execute_routed(self.redis, batch)
        pool = self.redis.connection_pool
        conn = await self._checkout(pool)
        try:
            replies = await exchange(conn, b"".join([command for _, command in batch]),
                                     len(batch))
        except BaseException:
            await conn.disconnect()
            await pool.release(conn)
            raise
        if len(self.idle) < KEEP_IDLE:
            self.idle.append(conn)  # every reply read: the next batch may use it as it is
        else:
            await pool.release(conn)
        return replies

    async def _checkout(self, pool: ConnectionPool) -> AbstractConnection:
        """A connection kept from an earlier batch while it is clean, else the pool's (which
        checks, and reconnects, what it hands out)."""
        while self.idle:
            conn = self.idle.pop()
            if _clean(conn):
                return conn
            await conn.disconnect()
            await pool.release(conn)
        fresh: AbstractConnection = await pool.get_connection()  # type: ignore[no-untyped-call]
        return fresh

    @staticmethod
    async def _execute_routed(cluster: RedisCluster, batch: list[Packed]) -> list[Any]:
        """On a cluster, one pipeline per hash slot (a team's keys share one), run together:
        a node that cannot be reached fails only its teams' calls, where one pipeline for
        the whole tick would fail them all (a node down must not take other teams down)."""
        slots: dict[int, list[int]] = {}
        for i, ((_, call, _), _) in enumerate(batch):
            slots.setdefault(cluster.keyslot(call.keys[0]) if call.keys else -1, []).append(i)
        groups = list(slots.values())
        answers = await asyncio.gather(
            *(_pipeline(cluster, [batch[i] for i in group]) for group in groups),
            return_exceptions=True)
        replies: list[Any] = [None] * len(batch)
        for group, answer in zip(groups, answers, strict=True):
            if isinstance(answer, BaseException) and not isinstance(answer, Exception):
                raise answer  # cancelled: the caller fails every call
            for n, i in enumerate(group):
                replies[i] = answer if isinstance(answer, Exception) else answer[n]
        return replies

    async def _load(self, scripts: set[AsyncScript]) -> None:
        for script in scripts:  # on a cluster, SCRIPT LOAD goes to every primary
            await self.redis.script_load(script.script)


async def _pipeline(cluster: RedisCluster, batch: list[Packed]) -> list[Any]:
    """redis-py's pipeline sends each call to the node owning its keys' slot and follows
    MOVED and ASK while slots migrate; an error reply is that call's result."""
    pipe = cluster.pipeline(transaction=False)
    for (script, call, _), _ in batch:
        pipe.execute_command("EVALSHA", script.sha, len(call.keys), *call.keys, *call.args)
    replies: list[Any] = await pipe.execute(raise_on_error=False)
    return replies


def _packed(batch: list[Pending]) -> list[Packed]:
    """The calls with their commands; a call that cannot be packed (a string no UTF-8
    encoder accepts) fails alone, so it never fails the others sharing its round trip."""
    packed: list[Packed] = []
    for pending in batch:
        script, call, future = pending
        try:
            packed.append((pending, _evalsha(script.sha, call)))
        except (UnicodeEncodeError, TypeError, ValueError) as exc:
            if not future.done():
                future.set_exception(rexc.DataError(f"cannot send a script argument: {exc}"))
    return packed


def _evalsha(sha: str, call: ScriptCall) -> bytes:
    """EVALSHA in the Redis protocol (RESP): an array of bulk strings (its tail packed
    already when the call's builder did it)."""
    count = len(call.keys) + len(call.args)
    head = b"*%d\r\n$7\r\nEVALSHA\r\n$%d\r\n%s\r\n" % (count + 3, len(sha), sha.encode())
    if call.packed is not None:
        return head + call.packed
    return head + _bulk(len(call.keys)) + b"".join([_bulk(arg) for arg in [*call.keys,
                                                                           *call.args]])


def _bulk(arg: str | int) -> bytes:
    """One RESP bulk string; strings are remembered (most keys repeat from call to call)."""
    if not isinstance(arg, str):  # numbers (and bools, equal to 1 and 0 as dict keys): as text
        data = str(arg).encode()
        return b"$%d\r\n%s\r\n" % (len(data), data)
    packed = _BULK.get(arg)
    if packed is None:
        data = arg.encode()
        packed = b"$%d\r\n%s\r\n" % (len(data), data)
        if len(arg) > BULK_MAX_CHARS:
            return packed
        if len(_BULK) >= BULK_MEMORY:
            _BULK.clear()  # request ids never repeat: start over rather than grow
        _BULK[arg] = packed
    return packed


def _clean(conn: AbstractConnection) -> bool:
    """Whether a kept connection can carry the next batch: still connected, not closed by
    Redis (a restart), nothing unread in it — what the pool's checkout verifies, read from
    the stream's state (its loop has taken in whatever arrived) instead of another read."""
    reader = getattr(conn, "_reader", None)
    return (isinstance(reader, asyncio.StreamReader) and conn.is_connected
            and not getattr(reader, "_eof", True) and not getattr(reader, "_buffer", True)
            and reader.exception() is None)
