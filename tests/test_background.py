"""Background loops stop when cancelled even if a Redis call inside swallowed the cancel
(Python 3.11's `wait_for` returns a reply that landed in the same tick, gh-86296): a loop
that went on would outlive its app and fire timers with stale rules."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from server.app import _follow_reloads
from server.background import awaiting
from server.fanout.tail import Tail
from server.store.event_reader import EventReader
from server.web.appkeys import ARBITER, HUB, METRICS, SCOREBOARD, TIMERS
from tests.conftest import Gateway


def swallowing(reply: Any) -> tuple[Callable[..., Awaitable[Any]], asyncio.Event]:
    """A stand-in for a Redis call caught by the bug: cancelled, it returns `reply`."""
    entered = asyncio.Event()

    async def call(*_args: Any, **_kwargs: Any) -> Any:
        entered.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return reply
        return reply

    return call, entered


@pytest.mark.parametrize("loop", ["timers", "tail", "reloads", "scoreboard"])
async def test_a_swallowed_cancel_still_stops_the_loop(gateway: Gateway, redis: Redis,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       loop: str) -> None:
    app = gateway.app
    if loop == "timers":
        call, entered = swallowing(None)
        monkeypatch.setattr(app[TIMERS], "fire_due", call)
        runner: Awaitable[None] = app[TIMERS].run()
    elif loop == "tail":
        tail = Tail(EventReader(redis), app[HUB], app[METRICS], "north")
        call, entered = swallowing(None)
        monkeypatch.setattr(tail, "read_once", call)
        runner = tail.run()
    elif loop == "reloads":
        call, entered = swallowing(False)
        monkeypatch.setattr(app[ARBITER], "rules_changed", call)
        monkeypatch.setattr("server.app.RELOAD_POLL_S", 0.01)
        runner = _follow_reloads(app[ARBITER], app[HUB])
    else:
        call, entered = swallowing(None)
        monkeypatch.setattr(app[SCOREBOARD], "publish", call)
        runner = app[SCOREBOARD].run()
    task = asyncio.ensure_future(runner)
    await asyncio.wait_for(entered.wait(), 5)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert done, f"the {loop} loop went on after its cancel was swallowed"
    task.cancel()


async def test_a_stuck_task_is_reported_with_its_chain_of_awaits() -> None:
    async def inner() -> None:
        await asyncio.sleep(60)

    async def outer() -> None:
        await inner()

    task = asyncio.create_task(outer())
    await asyncio.sleep(0)
    where = awaiting(task).splitlines()
    task.cancel()
    assert [line.rsplit(" ", 1)[1] for line in where][:3] == ["outer", "inner", "sleep"]
