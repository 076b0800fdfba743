"""The scorecard over HTTP, /ws, /metrics and the CLI: who sees which card, the manager's tier
pin (a `tier` frame to the rep; bad input changes nothing), gauges within the label cap."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
from typing import Any

import aiohttp
import pytest

from clients.scorecard import run_scorecard
from server.web.appkeys import SCORECARDS
from server.web.auth import Role
from tests.conftest import Gateway
from tests.test_fairness import sample, scrape
from tests.test_ws import connect


async def call(gw: Gateway, method: str, path: str, token: str,
               body: dict[str, Any] | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http, \
            http.request(method, gw.url(path), json=body) as resp:
        return resp.status, await resp.json()


async def test_a_rep_sees_its_own_card_and_a_manager_its_teams(gateway: Gateway) -> None:
    status, card = await call(gateway, "GET", "/api/reps/alice/scorecard",
                              gateway.token("alice"))
    assert status == 200 and card["rep"] == "alice" and card["window"]["days"] == 30
    assert [t["component"] for t in card["terms"]][:2] == ["base", "conversion"]
    assert (await call(gateway, "GET", "/api/reps/bob/scorecard",
                       gateway.token("alice")))[0] == 403
    manager = gateway.role_token(Role.MANAGER)
    assert (await call(gateway, "GET", "/api/reps/bob/scorecard", manager))[0] == 200
    status, team = await call(gateway, "GET", "/api/scorecards?team=north", manager)
    assert status == 200 and {c["rep"] for c in team["scorecards"]} == {"alice", "bob", "carol"}
    elsewhere = gateway.authority.mint(Role.MANAGER, "m2", ttl_s=600, teams=["south"])
    assert (await call(gateway, "GET", "/api/reps/bob/scorecard", elsewhere))[0] == 403
    assert (await call(gateway, "GET", "/api/scorecards?team=north", elsewhere))[0] == 403
    assert (await call(gateway, "GET", "/api/scorecards?team=north",
                       gateway.token("alice")))[0] == 403
    status, body = await call(gateway, "GET", "/api/reps/nobody/scorecard", manager)
    assert status == 404 and body["error"]["code"] == "not_found"


@pytest.mark.parametrize("body", [{}, {"tier": "platinum"}, {"tier": 3}, {"tier": ""}])
async def test_a_bad_pin_is_refused_and_changes_nothing(gateway: Gateway,
                                                        body: dict[str, Any]) -> None:
    before = await gateway.redis.hgetall("lg:{north}:rules")
    status, answer = await call(gateway, "POST", "/api/reps/bob/tier",
                                gateway.role_token(Role.MANAGER), body)
    assert status == 400 and answer["error"]["code"] == "bad_field"
    assert "tier" in answer["error"]["message"]
    assert await gateway.redis.hgetall("lg:{north}:rules") == before
    assert await gateway.redis.exists("lg:{north}:tiers") == 0


async def test_a_pin_tells_the_rep_and_changes_its_rules(gateway: Gateway) -> None:
    manager = gateway.role_token(Role.MANAGER, "mia")
    assert (await call(gateway, "POST", "/api/reps/bob/tier", gateway.token("bob"),
                       {"tier": "gold"}))[0] == 403
    async with connect(gateway, "bob") as bob:
        await bob.recv_type("welcome")
        status, answer = await call(gateway, "POST", "/api/reps/bob/tier", manager,
                                    {"tier": "gold"})
        assert status == 200 and (answer["tier"], answer["prev"]) == ("gold", None)
        frame = await bob.recv_type("tier")
        assert (frame["tier"], frame["prev"], frame["reason"]) == ("gold", None, "pinned")
        limits = await bob.recv_type("limits")
        assert limits["rules"]["max_open"] == 3  # gold's rule, told as after a reload
    status, card = await call(gateway, "GET", "/api/reps/bob/scorecard", manager)
    assert (card["tier"], card["pinned_tier"]) == ("gold", "gold")
    status, rep = await call(gateway, "GET", "/api/reps/bob", manager)
    assert rep["limits"]["max_open"] == 3  # gold's rule
    status, answer = await call(gateway, "POST", "/api/reps/bob/tier", manager, {"tier": None})
    assert (answer["tier"], answer["prev"], answer["pinned"]) == (None, "gold", False)


async def test_score_gauges_pass_promtool(gateway: Gateway) -> None:
    await gateway.app[SCORECARDS].publish("north")
    text = await scrape(gateway)
    assert sample(text, "leadgrab_rep_score", team="north", rep="alice") == 50
    assert sample(text, "leadgrab_rep_score_contribution", team="north", rep="alice",
                  term="base") == 50
    if shutil.which("promtool"):
        done = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                              capture_output=True, timeout=30)
        assert done.returncode == 0 and not (done.stdout + done.stderr).strip()


async def test_the_cli_prints_a_team_and_explains_a_rep(gateway: Gateway,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    token = gateway.role_token(Role.MANAGER)
    base = {"url": gateway.url("/"), "token": token, "config": None, "json": False}
    team = argparse.Namespace(team="north", rep=None, **base)
    assert await asyncio.to_thread(run_scorecard, team) == 0
    assert "alice" in capsys.readouterr().out
    rep = argparse.Namespace(team=None, rep="bob", **base)
    assert await asyncio.to_thread(run_scorecard, rep) == 0
    out = capsys.readouterr().out
    assert "score 50.00" in out and "conversion" in out
    nobody = argparse.Namespace(team=None, rep="nobody", **base)
    assert await asyncio.to_thread(run_scorecard, nobody) == 1
    assert "404 not_found" in capsys.readouterr().err
