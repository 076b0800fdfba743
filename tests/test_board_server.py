"""The manager feed and snapshot without a browser: who may open them, what a team scope
hides, resuming by entry id, presence, and the board's sign-in link."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from server import cli
from server.store import keys
from server.web.auth import Role
from tests.conftest import BASE_CONFIG, ROOT, SECRET, Gateway
from tests.helpers.gateways import gateway_with
from tests.helpers.http import publish
from tests.test_http import call, integration
from tests.test_resources_api import storage_leaks, valid
from tests.test_ws import connect

TWO_TEAMS = BASE_CONFIG + """
[teams.south]
timezone = "UTC"

[teams.south.rules]
max_open = 3
max_daily = 10
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 0

[[reps]]
id = "sam"
team = "south"
"""


two = gateway_with("two", TWO_TEAMS)


def manager(gw: Gateway, teams: list[str] | None = None) -> str:
    return gw.authority.mint(Role.MANAGER, "boss", ttl_s=600, teams=teams)


@asynccontextmanager
async def feed(gw: Gateway, token: str, resume: Any = None) -> AsyncIterator[Any]:
    async with aiohttp.ClientSession() as http:
        url = gw.url("/api/board/feed").replace("http", "ws", 1)
        async with http.ws_connect(url) as ws:
            hello: dict[str, Any] = {"type": "hello", "token": token}
            if resume is not None:
                hello["resume"] = resume
            await ws.send_json(hello)
            yield ws


async def until(ws: Any, kind: str, test: Any = lambda m: True) -> dict[str, Any]:
    while True:
        msg = await ws.receive(timeout=10)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        body: dict[str, Any] = json.loads(msg.data)
        if body["type"] == kind and test(body):
            return body


async def get(gw: Gateway, path: str, token: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.get(gw.url(path), headers=headers) as r:
        return r.status, await r.json()


async def test_a_rep_token_never_opens_the_feed_or_the_snapshot(gateway: Gateway) -> None:
    async with feed(gateway, gateway.token("alice")) as ws:
        error = await until(ws, "error")
        assert error["code"] == "auth_failed" and "manager token" in error["message"]
        assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 4001
    status, body = await get(gateway, "/api/board/snapshot", gateway.token("alice"))
    assert status == 403 and body["error"]["code"] == "forbidden"


async def test_a_bad_hello_is_a_protocol_error(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as http:
        url = gateway.url("/api/board/feed").replace("http", "ws", 1)
        async with http.ws_connect(url) as ws:
            await ws.send_str("not json")
            assert (await until(ws, "error"))["code"] == "bad_frame"
            await ws.receive(timeout=5)
            assert ws.close_code == 4002


async def test_snapshot_then_events_with_the_state_they_name(gateway: Gateway) -> None:
    async with feed(gateway, manager(gateway)) as ws:
        snap = await until(ws, "snapshot")
        assert snap["team"] == "north" and set(snap["reps"]) == {"alice", "bob", "carol"}
        assert snap["rules"]["alice"]["max_open"] == snap["reps"]["alice"]["limits"]["max_open"]
        assert set(snap["fairness"]) == {"1h", "24h"}
        await publish(gateway, "F1", region="north")
        events = await until(ws, "events", lambda m: any(e.get("lead") == "F1"
                                                          for e in m["entries"]))
        assert events["entries"][0]["action"] == "publish"
        assert events["leads"]["F1"]["state"] == "open"


def typed(message: dict[str, Any]) -> None:
    """Every lead, rep and entry of a snapshot or events message is the API's typed resource."""
    for lead in message["leads"].values():
        if lead is not None:
            valid("Lead", lead)
    for rep in message["reps"].values():
        valid("Rep", rep)
    for name in ("decisions", "entries"):
        for entry in message.get(name, []):
            valid("AuditEntry", entry)
    for entry in message["presence"]:
        valid("PresenceEntry", entry)
    assert storage_leaks(message) == []


async def test_snapshot_and_events_carry_typed_resources(gateway: Gateway) -> None:
    await call(gateway, "POST", "/api/leads", integration(gateway),
               {"id": "K1", "team": "north", "value": 9000, "region": "north",
                "skills": ["solar"], "priority": 2, "customer_id": "C-1"})
    async with connect(gateway, "alice") as alice:
        await alice.recv_type("welcome")
        await alice.send({"type": "claim", "req_id": "k1", "lead_id": "K1"})
        assert (await alice.recv_type("claim_result"))["result"] == "won"
        async with feed(gateway, manager(gateway)) as ws:
            snap = await until(ws, "snapshot")
            typed(snap)
            valid("BoardTeam", snap)
            _status, body = await get(gateway, "/api/board/snapshot", manager(gateway))
            valid("BoardSnapshot", body)
            lead = snap["leads"]["K1"]
            single = (await call(gateway, "GET", "/api/leads/K1", manager(gateway)))[1]["lead"]
            assert lead == single and lead["holder"] == "alice" and lead["value"] == 9000
            rep = (await call(gateway, "GET", "/api/reps/alice", manager(gateway)))[1]
            assert snap["reps"]["alice"] == rep and rep["held"] == ["K1"]
            assert [e["action"] for e in snap["decisions"] if e.get("lead") == "K1"] == [
                "publish", "claim"]
            assert isinstance(snap["decisions"][1]["ts"], int)
            await publish(gateway, "K2", region="north", value=10)
            events = await until(ws, "events", lambda m: "K2" in m["leads"])
            typed(events)
            assert events["leads"]["K2"]["value"] == 10 and events["entries"][0]["at"]


async def test_the_snapshot_finds_open_leads_by_the_pool_index(gateway: Gateway) -> None:
    """An open lead whose audit entries were trimmed away is still on the board."""
    await publish(gateway, "OLD", region="north")
    await gateway.redis.xtrim(keys.audit("north"), maxlen=0)
    _status, body = await get(gateway, "/api/board/snapshot", manager(gateway))
    assert body["teams"]["north"]["leads"]["OLD"]["state"] == "open"


async def test_resume_from_a_cursor_replays_only_what_came_after(gateway: Gateway) -> None:
    async with feed(gateway, manager(gateway)) as ws:
        cursor = (await until(ws, "snapshot"))["cursor"]
    await publish(gateway, "R1", region="north")
    await publish(gateway, "R2", region="north")
    async with feed(gateway, manager(gateway), {"north": cursor}) as ws:
        first = json.loads((await ws.receive(timeout=10)).data)
        assert first["type"] == "events"  # no snapshot: the cursor is still in the stream
        assert [e["lead"] for e in first["entries"] if e["action"] == "publish"] == ["R1", "R2"]
        assert set(first["leads"]) == {"R1", "R2"}


async def test_a_trimmed_cursor_gets_a_fresh_snapshot(gateway: Gateway) -> None:
    await publish(gateway, "T1", region="north")
    async with feed(gateway, manager(gateway), {"north": {"audit": "1-0",
                                                          "presence": "0-0"}}) as ws:
        assert (await until(ws, "snapshot"))["leads"]["T1"]["state"] == "open"


async def test_presence_reaches_the_feed_and_the_snapshot(gateway: Gateway) -> None:
    async with feed(gateway, manager(gateway)) as ws:
        await until(ws, "snapshot")
        async with connect(gateway, "alice") as alice:
            await alice.recv_type("welcome")
            joined = await until(ws, "events", lambda m: m["presence"])
            assert joined["presence"][0]["action"] == "connected"
            assert joined["reps"]["alice"]["connections"] == 1
            assert joined["reps"]["alice"]["online"] is True
            _status, body = await get(gateway, "/api/board/snapshot", manager(gateway))
            assert body["teams"]["north"]["reps"]["alice"]["connections"] == 1
        left = await until(ws, "events", lambda m: m["presence"])
        assert left["presence"][0]["action"] == "disconnected"
        assert left["reps"]["alice"]["connections"] == 0
        assert left["reps"]["alice"]["online"] is False


async def test_a_scoped_manager_sees_nothing_of_another_team(two: Gateway) -> None:
    south = manager(two, ["south"])
    async with feed(two, south) as ws:
        snap = await until(ws, "snapshot")
        assert snap["team"] == "south" and set(snap["reps"]) == {"sam"}
        await publish(two, "N1", region="north")
        await publish(two, "S1", team="south")
        got = await until(ws, "events", lambda m: any(e.get("lead") == "S1"
                                                       for e in m["entries"]))
        assert got["team"] == "south"
    status, body = await get(two, "/api/board/snapshot", south)
    assert status == 200 and list(body["teams"]) == ["south"]
    for path in ("/api/board/snapshot?team=north", "/api/audit?team=north",
                 "/api/fairness?team=north", "/api/leads/N1?team=north", "/api/reps/alice"):
        status, body = await get(two, path, south)
        assert status == 403, (path, body)
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {south}"}
        for path in ("/api/reps/alice/pause", "/api/leads/N1/withdraw?team=north",
                     "/api/config/reload"):
            async with http.post(two.url(path), headers=headers, json={}) as resp:
                assert resp.status == 403, path
        async with http.post(two.url("/api/leads?team=south"), headers=headers,  # body: north
                             json={"id": "N2", "team": "north", "value": 1}) as resp:
            assert resp.status == 403
    status, body = await get(two, "/api/audit?team=south", south)
    assert status == 200 and {e["lead"] for e in body["entries"] if "lead" in e} == {"S1"}
    status, _ = await get(two, "/api/board/snapshot?team=north", manager(two))
    assert status == 200  # an all-teams token still sees every team


async def test_the_board_page_carries_the_console_headers(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(gateway.url("/board")) as resp:
            assert resp.status == 200 and "LeadGrab board" in await resp.text()
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            assert resp.headers["Referrer-Policy"] == "no-referrer"
        async with http.get(gateway.url("/board/static/js/main.js")) as resp:
            assert resp.status == 200 and "javascript" in resp.headers["Content-Type"]


def test_token_link_for_a_scoped_manager(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    path = tmp_path / "config.toml"
    path.write_text(TWO_TEAMS.replace("[server]\n", f'[server]\ndata_dir = "{tmp_path}"\n'
                                      f'secret = "{SECRET}"\nport = 9000\n', 1))
    assert cli.main(["token", "-c", str(path), "--role", "manager", "--teams", "south",
                     "--link"]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("http://") and ":9000/board#token=" in link
    claims = jwt.decode(link.split("#token=")[1], SECRET, algorithms=["HS256"],
                        options={"verify_iss": False})
    assert claims["role"] == "manager" and claims["teams"] == ["south"]
    assert cli.main(["token", "-c", str(path), "--role", "manager", "--teams", "west"]) == 2
    assert cli.main(["token", "-c", str(path), "--role", "integration", "--link"]) == 2


def test_wheel_ships_the_board(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    names = set(zipfile.ZipFile(next(tmp_path.glob("leadgrab-*.whl"))).namelist())
    page = Path(ROOT / "server" / "web" / "board")
    shipped = {f"server/web/board/{p.relative_to(page)}" for p in page.rglob("*") if p.is_file()}
    assert "server/web/board/board.html" in shipped and shipped <= names
