"""A Redis that went away: clear temporary errors, nothing half-applied, recovery after."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import websockets
from aiohttp.test_utils import TestServer

from server.app import create_app
from server.store.embedded import EmbeddedRedis
from server.web.auth import Role, TokenAuthority
from tests.conftest import SECRET, gateway_config
from tests.test_processes import next_of

AUTH = TokenAuthority(SECRET)


async def http(server: TestServer, method: str, path: str, body: Any = None,
               token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.request(
            method, str(server.make_url(path)), json=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_requests_fail_cleanly_while_redis_is_down_then_recover(tmp_path: Path) -> None:
    redis = EmbeddedRedis(tmp_path / "redis")
    url = await redis.start()
    app = create_app(gateway_config(tmp_path), redis=url)
    integration = AUTH.mint(Role.INTEGRATION, "crm", ttl_s=600)
    try:
        async with TestServer(app) as server:
            await http(server, "POST", "/api/leads", {"id": "L1", "team": "north"}, integration)
            ws_url = str(server.make_url("/ws")).replace("http", "ws", 1)
            async with websockets.connect(ws_url) as ws:
                await ws.send(json.dumps({"type": "hello", "token": AUTH.mint(
                    Role.REP, "bob", team="north", ttl_s=600)}))
                await next_of(ws, "welcome", 10)
                await redis.stop()
                await ws.send(json.dumps({"type": "claim", "req_id": "r1", "lead_id": "L1"}))
                error = await next_of(ws, "error", 10)
                assert (error["code"], error["temporary"], error["req_id"]) == (
                    "unavailable", True, "r1")
                assert (await http(server, "GET", "/healthz"))[0] == 503
                status, body = await http(server, "POST", "/api/leads",
                                          {"id": "L2", "team": "north"}, integration)
                assert (status, body["error"]["code"]) == (503, "unavailable")
                assert body["error"]["temporary"] is True
                await redis.start()  # same data folder and socket: the same URL
                await asyncio.sleep(0.5)
                assert (await http(server, "GET", "/healthz"))[0] == 200
                await ws.send(json.dumps({"type": "claim", "req_id": "r1", "lead_id": "L1"}))
                assert (await next_of(ws, "claim_result", 10))["result"] == "won"
    finally:
        await redis.stop()
