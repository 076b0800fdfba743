"""POST /api/whatif: a manager's preview of a rules change, bounded, one per team at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from server.web.auth import Role
from tests.conftest import Gateway
from tests.test_fairness import FAIR_CONFIG, fair_gateway, grab
from tests.test_http import call

WINDOW = FAIR_CONFIG.replace("[teams.north]\n", '[teams.north]\nmode = "window"\nwindow_ms = 200\n')


@pytest.fixture
async def gw(redis: Redis, redis_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    async with fair_gateway(redis, redis_url, tmp_path, None) as gateway:
        crm = gateway.role_token(Role.INTEGRATION, "crm")
        for n in range(6):
            await call(gateway, "POST", "/api/leads", crm, {"id": f"L{n}", "team": "north"})
            await grab(gateway, "r0", f"L{n}")
            await grab(gateway, f"r{1 + n % 3}", f"L{n}")
        yield gateway


async def test_a_manager_previews_a_change_on_the_recent_audit(gw: Gateway) -> None:
    status, body = await call(gw, "POST", "/api/whatif", gw.role_token(Role.MANAGER),
                              {"team": "north", "config": WINDOW})
    assert status == 200, body
    assert body["recorded"]["reps"]["r0"]["wins"] == 6 and body["recorded"]["team"]["wins"] == 6
    assert body["new"]["team"]["wins"] == 6 and body["new"]["team"]["jain"] is not None
    assert "reps do not react" in body["limits"] and body["truncated"] is False
    status, body = await call(gw, "POST", "/api/whatif", gw.role_token(Role.MANAGER),
                              {"team": "north", "config": WINDOW, "max_entries": 4})
    assert status == 200 and body["entries"] == 4 and body["truncated"] is True


async def test_a_rep_token_is_refused(gw: Gateway) -> None:
    status, body = await call(gw, "POST", "/api/whatif", gw.token("r0"),
                              {"team": "north", "config": WINDOW})
    assert status == 403 and body["error"]["code"] == "forbidden"


async def test_a_malformed_config_gets_the_validators_message(gw: Gateway) -> None:
    bad = FAIR_CONFIG.replace("max_open = 100", "max_open = -1")
    status, body = await call(gw, "POST", "/api/whatif", gw.role_token(Role.MANAGER),
                              {"team": "north", "config": bad})
    assert status == 400 and body["error"]["code"] == "invalid_config"
    assert "teams.north.rules.max_open" in body["error"]["message"]
    for payload, field in (({"team": "south", "config": WINDOW}, "team"),
                           ({"team": "north", "config": WINDOW, "max_entries": -1},
                            "max_entries"),
                           ({"team": "north"}, "config"), ({"team": "north", "x": 1}, "x")):
        status, body = await call(gw, "POST", "/api/whatif", gw.role_token(Role.MANAGER),
                                  payload)
        assert status == 400 and body["error"]["message"].startswith(field), body


async def test_a_second_request_for_the_team_is_told_busy(gw: Gateway) -> None:
    token = gw.role_token(Role.MANAGER)
    first = asyncio.ensure_future(call(gw, "POST", "/api/whatif", token,
                                       {"team": "north", "config": WINDOW}))
    await asyncio.sleep(0.3)  # the first one's replay process is starting
    status, body = await call(gw, "POST", "/api/whatif", token,
                              {"team": "north", "config": WINDOW})
    assert status == 503 and body["error"]["message"].startswith("busy:")
    assert body["error"]["temporary"] is True
    assert (await first)[0] == 200
    assert (await call(gw, "POST", "/api/whatif", token,
                       {"team": "north", "config": WINDOW}))[0] == 200
