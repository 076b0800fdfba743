"""The claim batcher keeps one Redis connection for its batches, and never reuses a bad one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from server.store import backend, batch
from server.store.faults import StoreError
from server.store.keys import ScriptCall
from server.store.wire import Line

SLOW = ("local function us() local t = redis.call('TIME') return t[1] * 1e6 + t[2] end "
        "local start = us() while us() - start < 500000 do end return 1")


@pytest.fixture
async def batcher(redis_url: str, redis: Redis) -> AsyncIterator[tuple[batch.Batcher, Redis]]:
    """A batcher on its own client, as the store builds it."""
    client = await backend.connect(redis_url)
    assert isinstance(client, Redis)
    b = batch.Batcher(client)
    try:
        yield b, client
    finally:
        await b.aclose()
        await client.aclose()


async def _echo(batcher: batch.Batcher, client: Redis, *values: str) -> list[str]:
    script = client.register_script("return ARGV[1]")
    await client.script_load(script.script)
    return list(await asyncio.gather(*(batcher.submit(script, ScriptCall([], [v]))
                                       for v in values)))


def _in_use(client: Redis) -> int:
    return len(client.connection_pool._in_use_connections)  # type: ignore[attr-defined]


async def test_every_batch_goes_down_the_same_connection(
        batcher: tuple[batch.Batcher, Redis]) -> None:
    """No pool checkout per batch (a health read under a timeout each): one line."""
    b, client = batcher
    assert await _echo(b, client, "a", "b") == ["a", "b"]
    line = b.line
    assert line is not None and _in_use(client) == 1
    assert await _echo(b, client, "c") == ["c"]
    assert b.line is line and _in_use(client) == 1


async def test_calls_run_in_the_order_they_were_made(batcher: tuple[batch.Batcher, Redis]) -> None:
    """Batches of successive ticks share one connection, so Redis runs them in order."""
    b, client = batcher
    incr = client.register_script("return redis.call('INCR', KEYS[1])")
    await client.script_load(incr.script)
    futures = []
    for _ in range(20):
        futures += [b.submit(incr, ScriptCall(["n"], [])) for _ in range(5)]
        await asyncio.sleep(0)
    assert await asyncio.gather(*futures) == list(range(1, 101))


async def test_a_connection_redis_closed_is_not_reused(
        batcher: tuple[batch.Batcher, Redis], redis: Redis) -> None:
    """After Redis drops the line's connection (a restart, CLIENT KILL) the next batch runs on
    a fresh one instead of failing."""
    b, client = batcher
    assert await _echo(b, client, "a") == ["a"]
    first = b.line
    await redis.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    for _ in range(100):  # the line's reader takes in the EOF
        if b.line is None:
            break
        await asyncio.sleep(0.01)
    assert b.line is None
    assert await _echo(b, client, "b", "c") == ["b", "c"]
    assert b.line is not None and b.line is not first


async def test_a_fault_fails_the_calls_in_flight_and_gives_the_connection_back(
        batcher: tuple[batch.Batcher, Redis], redis: Redis) -> None:
    """The connection breaks with calls in flight: every one gets a temporary StoreError, the
    connection goes back to the pool disconnected, the next call runs on a new one."""
    b, client = batcher
    slow = client.register_script(SLOW)
    await client.script_load(slow.script)
    futures = [b.submit(slow, ScriptCall([], [])) for _ in range(3)]
    await asyncio.sleep(0.1)
    assert b.line is not None
    b.line.transport.abort()
    for outcome in await asyncio.gather(*futures, return_exceptions=True):
        assert isinstance(outcome, StoreError) and outcome.temporary
    await asyncio.sleep(0.05)
    assert _in_use(client) == 0
    await asyncio.sleep(1.5)  # Redis done with the three scripts
    assert await _echo(b, client, "after") == ["after"]


async def test_a_flushed_script_is_loaded_and_sent_again(
        batcher: tuple[batch.Batcher, Redis], redis: Redis) -> None:
    """NOSCRIPT (SCRIPT FLUSH, a restart): the call did not run; it is loaded and resent."""
    b, client = batcher
    incr = client.register_script("return redis.call('INCR', KEYS[1])")
    await client.script_load(incr.script)
    await redis.script_flush()
    assert await asyncio.gather(*(b.submit(incr, ScriptCall(["n"], [])) for _ in range(4))) \
        == [1, 2, 3, 4]


async def test_a_call_that_cannot_be_sent_fails_alone(
        batcher: tuple[batch.Batcher, Redis]) -> None:
    b, client = batcher
    script = client.register_script("return ARGV[1]")
    await client.script_load(script.script)
    good, bad = (b.submit(script, ScriptCall([], [v])) for v in ("ok", "\ud800"))
    assert await good == "ok"
    with pytest.raises(StoreError):
        await bad


async def test_closing_fails_what_is_in_flight(batcher: tuple[batch.Batcher, Redis]) -> None:
    b, client = batcher
    slow = client.register_script(SLOW)
    await client.script_load(slow.script)
    future = b.submit(slow, ScriptCall([], []))
    await asyncio.sleep(0.1)
    await b.aclose()
    with pytest.raises(StoreError):
        await future
    assert b.line is None and not b.tasks
    await asyncio.sleep(0.6)  # Redis done with the script before the fixture flushes


async def test_without_streams_the_pipeline_gives_the_same(
        batcher: tuple[batch.Batcher, Redis], monkeypatch: pytest.MonkeyPatch) -> None:
    """Where redis-py keeps no asyncio streams to take over, batches go by its pipeline."""
    b, client = batcher

    async def no_line(*_args: object) -> None:
        return None

    monkeypatch.setattr(Line, "open_on", no_line)
    assert await _echo(b, client, "a", "b") == ["a", "b"]
    assert b.piped and b.line is None
