"""The manager feed's tail sleeps while no board shows the team, and wakes for one."""

from __future__ import annotations

import asyncio

from server.web.appkeys import BOARD_FEED
from tests.conftest import Gateway
from tests.helpers.http import publish
from tests.test_board_server import feed, manager, until


async def _idle(gateway: Gateway, team: str) -> bool:
    for _ in range(200):
        if team in gateway.app[BOARD_FEED].idle:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_the_tail_sleeps_without_a_board_and_wakes_for_one(gateway: Gateway) -> None:
    """Every claim writes an audit entry: with nobody watching, none is read. A board that
    opens wakes the tail before its snapshot, so what follows arrives live; when it closes
    the tail sleeps again, and a resume from its cursor still replays what came meanwhile."""
    await publish(gateway, "S0", region="north")
    assert await _idle(gateway, "north")
    async with feed(gateway, manager(gateway)) as ws:
        cursor = (await until(ws, "snapshot"))["cursor"]
        assert "north" not in gateway.app[BOARD_FEED].idle
        await publish(gateway, "S1", region="north")
        live = await until(ws, "events", lambda m: any(e.get("lead") == "S1"
                                                        for e in m["entries"]))
        cursor = {"audit": live["entries"][-1]["id"], "presence": cursor["presence"]}
    assert await _idle(gateway, "north")
    await publish(gateway, "S2", region="north")
    async with feed(gateway, manager(gateway), {"north": cursor}) as ws:
        replay = await until(ws, "events")
        assert [e["lead"] for e in replay["entries"] if e["action"] == "publish"] == ["S2"]
        await publish(gateway, "S3", region="north")
        await until(ws, "events", lambda m: any(e.get("lead") == "S3" for e in m["entries"]))
