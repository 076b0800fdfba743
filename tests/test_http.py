"""The HTTP API over a real socket: roles, JSON errors, idempotent publish, claims, reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.store import keys
from server.web.auth import Role
from tests.conftest import Gateway


async def call(gw: Gateway, method: str, path: str, token: str | None = None,
               body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.request(
            method, gw.url(path), json=body, data=raw, headers=headers) as resp:
        assert resp.content_type == "application/json"
        return resp.status, await resp.json()


def integration(gw: Gateway) -> str:
    return gw.role_token(Role.INTEGRATION, "crm")


def manager(gw: Gateway) -> str:
    return gw.role_token(Role.MANAGER, "boss")


async def test_publish_once_per_id(gateway: Gateway) -> None:
    lead = {"id": "L1", "team": "north", "value": 100, "region": "north"}
    first = await call(gateway, "POST", "/api/leads", integration(gateway), lead)
    again = await call(gateway, "POST", "/api/leads", integration(gateway), lead)
    assert first[0] == 201 and first[1]["created"] is True
    assert again[0] == 200 and again[1] == {**first[1], "created": False}
    assert await gateway.redis.xlen(keys.events("north")) == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"team": "north", "value": -1}, 400, "bad_field"),
        ({"team": "south"}, 400, "bad_field"),
        ({"team": "north", "surprise": 1}, 400, "bad_field"),
        ({"team": "north", "id": "has space"}, 400, "bad_field"),
        ([1, 2], 400, "bad_json"),
    ],
)
async def test_publish_rejects_bad_leads(gateway: Gateway, body: Any, status: int,
                                         code: str) -> None:
    got = await call(gateway, "POST", "/api/leads", integration(gateway), body)
    assert got[0] == status and got[1]["error"]["code"] == code and got[1]["error"]["message"]
    assert await gateway.redis.exists(keys.events("north")) == 0


async def test_malformed_and_oversized_bodies(gateway: Gateway) -> None:
    status, body = await call(gateway, "POST", "/api/leads", integration(gateway),
                              raw=b"{nope")
    assert (status, body["error"]["code"]) == (400, "bad_json")
    status, body = await call(gateway, "POST", "/api/leads", integration(gateway),
                              raw=b"x" * 70_000)
    assert (status, body["error"]["code"]) == (413, "too_large")


@pytest.mark.parametrize(
    ("method", "path", "role", "status"),
    [
        ("POST", "/api/leads", None, 401),
        ("POST", "/api/leads", Role.REP, 403),
        ("POST", "/api/config/reload", Role.REP, 403),
        ("POST", "/api/config/reload", Role.INTEGRATION, 403),
        ("GET", "/api/reps/bob", Role.REP, 403),  # alice asking about bob
        ("POST", "/api/leads/L1/claim", Role.MANAGER, 403),
    ],
)
async def test_roles_are_enforced(gateway: Gateway, method: str, path: str, role: Role | None,
                                  status: int) -> None:
    token = None
    if role is Role.REP:
        token = gateway.token("alice")
    elif role is not None:
        token = gateway.role_token(role)
    got = await call(gateway, method, path, token, {"team": "north"})
    assert got[0] == status and got[1]["error"]["code"] in ("auth_failed", "forbidden")


async def test_claim_over_http_matches_websocket_results(gateway: Gateway) -> None:
    await call(gateway, "POST", "/api/leads", integration(gateway),
               {"id": "L1", "team": "north", "region": "north"})
    won = await call(gateway, "POST", "/api/leads/L1/claim", gateway.token("alice"),
                     {"req_id": "r1"})
    lost = await call(gateway, "POST", "/api/leads/L1/claim", gateway.token("bob"), {})
    missing = await call(gateway, "POST", "/api/leads/NOPE/claim", gateway.token("bob"), {})
    assert won == (200, {"type": "claim_result", "req_id": "r1", "lead_id": "L1",
                         "result": "won"})
    assert lost[1]["result"] == "lost"
    assert (missing[1]["result"], missing[1]["reason"]) == ("rejected", "not_found")


async def test_claim_as_another_rep_is_forbidden(gateway: Gateway) -> None:
    await call(gateway, "POST", "/api/leads", integration(gateway), {"id": "L1", "team": "north"})
    got = await call(gateway, "POST", "/api/leads/L1/claim", gateway.token("alice"),
                     {"rep": "bob"})
    assert got[0] == 403
    assert await gateway.redis.hget(keys.lead("north", "L1"), "state") == "open"


async def test_lead_state_and_audit_trail(gateway: Gateway) -> None:
    await call(gateway, "POST", "/api/leads", integration(gateway), {"id": "L1", "team": "north"})
    await call(gateway, "POST", "/api/leads/L1/claim", gateway.token("bob"), {"req_id": "x"})
    status, view = await call(gateway, "GET", "/api/leads/L1", manager(gateway))
    assert status == 200 and view["lead"]["holder"] == "bob"
    assert [e["action"] for e in view["audit"]] == ["publish", "claim"]
    assert (await call(gateway, "GET", "/api/leads/NOPE", manager(gateway)))[0] == 404


async def test_rep_state(gateway: Gateway) -> None:
    await call(gateway, "POST", "/api/leads", integration(gateway), {"id": "L1", "team": "north"})
    await call(gateway, "POST", "/api/leads/L1/claim", gateway.token("bob"), {})
    status, state = await call(gateway, "GET", "/api/reps/bob", gateway.token("bob"))
    assert status == 200 and state["held"] == ["L1"] and state["state"]["day_count"] == "1"
    assert (await call(gateway, "GET", "/api/reps/bob", manager(gateway)))[0] == 200


async def test_release_and_close(gateway: Gateway) -> None:
    await call(gateway, "POST", "/api/leads", integration(gateway), {"id": "L1", "team": "north"})
    await call(gateway, "POST", "/api/leads/L1/claim", gateway.token("bob"), {})
    refused = await call(gateway, "POST", "/api/leads/L1/close", gateway.token("alice"),
                         {"outcome": "won"})
    assert refused[0] == 409 and refused[1]["reason"] == "not_holder"
    bad = await call(gateway, "POST", "/api/leads/L1/close", gateway.token("bob"),
                     {"outcome": "maybe"})
    assert bad[0] == 400
    done = await call(gateway, "POST", "/api/leads/L1/close", gateway.token("bob"),
                      {"outcome": "won"})
    assert done[0] == 200 and done[1]["ok"] is True


async def test_reload_applies_a_changed_config(redis: Any, redis_url: str,
                                               tmp_path: Path) -> None:
    from aiohttp.test_utils import TestServer

    from server.app import create_app
    from server.config import load_config
    from server.web.auth import TokenAuthority
    from tests.conftest import BASE_CONFIG, SECRET

    path = tmp_path / "config.toml"
    header = f'[server]\ndata_dir = "{tmp_path}"\nsecret = "{SECRET}"\n'
    body = BASE_CONFIG.replace("[server]\nstream_maxlen = 10000\n", "")
    path.write_text(header + body)
    app = create_app(load_config(path), config_path=path, redis=redis_url)
    async with TestServer(app) as server:
        gw = Gateway(server, app, TokenAuthority(SECRET), redis)
        path.write_text(header + body.replace("max_daily = 5", "max_daily = 7"))
        status, reply = await call(gw, "POST", "/api/config/reload", manager(gw))
        assert status == 200 and reply["teams"]["north"] == {"version": 2, "changed": True}
        path.write_text("[teams.north]\nrules = { max_open = -1 }\n")
        status, reply = await call(gw, "POST", "/api/config/reload", manager(gw))
        assert status == 400 and "max_open" in reply["error"]["message"]
        assert (reply["error"]["code"], reply["error"]["temporary"]) == ("invalid_config", False)
        assert await redis.hget(keys.rules("north"), "version") == "2"


async def test_health_metrics_and_unknown_routes(gateway: Gateway) -> None:
    assert await call(gateway, "GET", "/healthz") == (200, {"status": "ok"})
    status, body = await call(gateway, "GET", "/nope")
    assert status == 404 and body["error"]["code"] == "not_found"
    async with aiohttp.ClientSession() as http, http.get(gateway.url("/metrics")) as resp:
        text = await resp.text()
    assert "leadgrab_claims_total" in text and "leadgrab_connected_reps" in text


def test_the_readme_lists_exactly_the_routes_the_app_serves(tmp_path: Path) -> None:
    import re

    from server.app import create_app
    from tests.conftest import ROOT, gateway_config

    table = (ROOT / "README.md").read_text().split("| `POST /api/leads` |", 1)[1]
    rows = ("| `POST /api/leads` |" + table.split("\n\n", 1)[0]).splitlines()
    documented = {(method, path.split("?")[0]) for row in rows
                  for method, path in re.findall(r"`(GET|POST) (/[^` ]*)`", row.split(" | ")[0])}
    app = create_app(gateway_config(tmp_path), redis="redis://127.0.0.1:1/0")  # not started
    served = {(r.method, re.sub(r"\{\w+\}", "[^/]+", r.resource.canonical) + "$")
              for r in app.router.routes()
              if r.method in ("GET", "POST") and r.resource is not None
              and r.resource.canonical != "/ws"}  # /ws has its own section

    def routed(method: str, path: str) -> bool:
        return any(m == method and re.match(pattern, path) for m, pattern in served)

    assert {(m, p) for m, p in documented if not routed(m, p)} == set()  # documented, not served
    assert {(m, pattern) for m, pattern in served
            if not any(m == dm and re.match(pattern, dp) for dm, dp in documented)} == set()
