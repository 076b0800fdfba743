"""Sends the script calls made during one event-loop tick to Redis as one write.

Each script stays atomic; only the round trips are shared. On one Redis server the batches
go down the batcher's own connection (`wire.Line`), one write each, in the order they were
made; on a cluster, one pipeline per hash slot per batch. A call whose script Redis does not
know (after SCRIPT FLUSH or a restart) is loaded and sent again — NOSCRIPT means it did not
run, so resending cannot apply it twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

from redis import exceptions as rexc
from redis.asyncio import RedisCluster
from redis.commands.core import AsyncScript

from server.store.backend import FAULTS, Client
from server.store.faults import fault
from server.store.keys import ScriptCall
from server.store.wire import Line

MAX_BATCH = 256
BULK_MEMORY = 10_000  # packed arguments remembered (≈ 2 MB at most)
BULK_MAX_CHARS = 64  # longer arguments (maximal ids) are packed every time, not remembered
_BULK: dict[str, bytes] = {}
_HEADS: dict[tuple[str, int], bytes] = {}  # per script and argument count (a few dozen)

# Sets a call's future from its reply (default: the reply itself); raising fails the call
Then = Callable[[Any, "asyncio.Future[Any]"], None]
Pending = tuple[AsyncScript, ScriptCall, "asyncio.Future[Any]", Then | None]


class Batcher:
    """Collects script calls and writes them together on the next loop iteration."""

    def __init__(self, redis: Client) -> None:
        self.redis = redis
        self.pending: list[Pending] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.line: Line | None = None
        self.opening = False
        self.piped = isinstance(redis, RedisCluster)  # redis-py pipelines, not a line
        self.retried: set[asyncio.Future[Any]] = set()  # sent again after NOSCRIPT
        self.unknown: list[Pending] = []  # answered NOSCRIPT, to load and send again

    def submit(self, script: AsyncScript, call: ScriptCall,
               then: Then | None = None) -> asyncio.Future[Any]:
        """Queue one call; its future gets the reply (or what `then` makes of it), or the
        fault (the driver's errors as StoreError)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.queue((script, call, future, then))
        return future

    def queue(self, pending: Pending) -> None:
        """Add a call to the next flush (scheduled by the first call of a tick)."""
        if not self.pending:
            pending[2].get_loop().call_soon(self._flush)
        self.pending.append(pending)

    def _flush(self) -> None:
        if self.piped:
            for batch in self._batches():
                self._spawn(self._send_piped(batch))
        elif self.line is not None:
            self._write(self.line)
        elif not self.opening:
            self.opening = True
            self._spawn(self._open())

    def _batches(self) -> Iterator[list[Pending]]:
        """The pending calls, taken MAX_BATCH at a time."""
        while self.pending:
            batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
            yield batch

    def _write(self, line: Line) -> None:
        for batch in self._batches():
            commands = [self._command(pending) for pending in batch]
            sent = [pending for pending, command in zip(batch, commands, strict=True)
                    if command]
            if sent:
                line.send(b"".join(commands), sent)

    def _command(self, pending: Pending) -> bytes:
        """The call's EVALSHA; b"" for one that cannot be packed (a string no UTF-8 encoder
        accepts), which fails alone, never the others sharing its round trip."""
        script, call, future, _ = pending
        try:
            return _evalsha(script.sha, call)
        except (UnicodeEncodeError, TypeError, ValueError) as exc:
            if not future.done():
                future.set_exception(_failure(
                    rexc.DataError(f"cannot send a script argument: {exc}")))
            return b""

    async def _open(self) -> None:
        """A line for the calls waiting; if it cannot be opened, they fail with the error."""
        try:
            line = await Line.open_on(self.redis.connection_pool,  # type: ignore[union-attr]
                                      self.deliver, self._lost)
        except BaseException as exc:
            self._fail(self.pending, exc)
            self.pending = []
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self.opening = False
        if line is None:  # no asyncio streams to take over: redis-py's pipeline then
            self.piped = True
        else:
            self.line = line
        self._flush()

    def _lost(self, line: Line) -> None:
        if self.line is line:
            self.line = None

    async def _send_piped(self, batch: list[Pending]) -> None:
        sent = [pending for pending in batch if self._command(pending)]
        try:
            replies = await _pipelines(self.redis, sent)
        except BaseException as exc:  # the whole batch shares the fault, cancellation too
            self._fail(sent, exc)
            return
        for pending, reply in zip(sent, replies, strict=True):
            self.deliver(pending, reply)

    def deliver(self, pending: Pending, reply: Any) -> None:
        """Give a call its reply: an error reply or a fault fails it; NOSCRIPT, the first
        time, sends it again once its script is loaded."""
        _, _, future, then = pending
        again = bool(self.retried) and future in self.retried
        if again:
            self.retried.discard(future)
        if future.done():
            return
        if isinstance(reply, BaseException):
            if isinstance(reply, rexc.NoScriptError) and not again:
                self._send_again(pending)
            else:
                future.set_exception(_failure(reply))
        elif then is None:
            future.set_result(reply)
        else:
            try:
                then(reply, future)
            except Exception as exc:  # a reply its reader does not understand: that call's
                if not future.done():
                    future.set_exception(exc)

    def _send_again(self, pending: Pending) -> None:
        if not self.unknown:
            self._spawn(self._load())
        self.unknown.append(pending)

    async def _load(self) -> None:
        await asyncio.sleep(0)  # every NOSCRIPT of this read, loaded once
        unknown, self.unknown = self.unknown, []
        try:
            for script in {pending[0] for pending in unknown}:
                await self.redis.script_load(script.script)  # on a cluster: every primary
        except BaseException as exc:
            self._fail(unknown, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for pending in unknown:
            self.retried.add(pending[2])
            self.queue(pending)

    def _fail(self, batch: list[Pending], exc: BaseException) -> None:
        failure = _failure(exc)
        for _, _, future, _ in batch:
            if not future.done():
                future.set_exception(failure)

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def aclose(self) -> None:
        """Fail what is in flight, stop the batcher's tasks, give its connection back."""
        for task in list(self.tasks):
            task.cancel()
        if self.line is not None:
            await self.line.aclose()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _failure(exc: BaseException) -> BaseException:
    """What a call's future is failed with: the driver's errors as StoreError (as every
    caller of the store sees them), anything else as it is."""
    if isinstance(exc, FAULTS):
        wrapped = fault(exc)
        wrapped.__cause__ = exc
        return wrapped
    return exc


async def _pipelines(redis: Client, batch: list[Pending]) -> list[Any]:
    """The batch through redis-py's pipelines; on a cluster, one per hash slot (a team's keys
    share one), run together: a node that cannot be reached fails only its teams' calls,
    where one pipeline for the whole tick would fail them all."""
    slots: dict[int, list[int]] = {}
    for i, (_, call, _, _) in enumerate(batch):
        slot = redis.keyslot(call.keys[0]) if isinstance(redis, RedisCluster) and call.keys \
            else -1
        slots.setdefault(slot, []).append(i)
    groups = list(slots.values())
    answers = await asyncio.gather(
        *(_pipeline(redis, [batch[i] for i in group]) for group in groups),
        return_exceptions=True)
    replies: list[Any] = [None] * len(batch)
    for group, answer in zip(groups, answers, strict=True):
        if isinstance(answer, BaseException) and not isinstance(answer, Exception):
            raise answer  # cancelled: the caller fails every call
        for n, i in enumerate(group):
            replies[i] = answer if isinstance(answer, Exception) else answer[n]
    return replies


async def _pipeline(redis: Client, batch: list[Pending]) -> list[Any]:
    """redis-py's pipeline (on a cluster it sends each call to the node owning its keys'
    slot and follows MOVED and ASK while slots migrate); an error reply is that call's
    result."""
    pipe = redis.pipeline(transaction=False)
    for script, call, _, _ in batch:
        pipe.execute_command("EVALSHA", script.sha, len(call.keys), *call.keys, *call.args)
    replies: list[Any] = await pipe.execute(raise_on_error=False)
    return replies


def _evalsha(sha: str, call: ScriptCall) -> bytes:
    """EVALSHA in the Redis protocol (RESP): an array of bulk strings (its tail packed
    already when the call's builder did it)."""
    count = len(call.keys) + len(call.args)
    head = _HEADS.get((sha, count))
    if head is None:
        head = _HEADS[(sha, count)] = b"*%d\r\n$7\r\nEVALSHA\r\n$%d\r\n%s\r\n" % (
            count + 3, len(sha), sha.encode())
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
