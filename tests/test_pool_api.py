"""GET /api/leads: each filter, cursor paging, roles; a rep never lists a lead it may not see."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from server.app import create_app
from server.web.auth import Role
from tests.conftest import Gateway, gateway_config, running
from tests.helpers.http import publish
from tests.test_pool import BODY
from tests.test_ws import connect

LEADS: list[dict[str, Any]] = [  # published in this order, ~20 ms apart
    {"id": "N1", "value": 100, "region": "north", "priority": 1, "customer_id": "C1"},
    {"id": "E1", "value": 300, "region": "east", "priority": 2},
    {"id": "S1", "value": 500, "region": "north", "skills": ["solar"], "priority": 1},
    {"id": "BIG", "value": 5000, "region": "north", "priority": 3, "customer_id": "C2"},
    {"id": "N2", "value": 200, "region": "north", "priority": 0},
]


@pytest.fixture
async def pool(redis: Redis, redis_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running(create_app(gateway_config(tmp_path, "", BODY), redis=redis_url),
                       redis) as gw:
        for lead in LEADS:
            await publish(gw, lead["id"], **{k: v for k, v in lead.items() if k != "id"})
            await asyncio.sleep(0.02)
        yield gw


async def get(gw: Gateway, token: str, **params: Any) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(
            gw.url("/api/leads"), params={k: str(v) for k, v in params.items()},
            headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


def boss(gw: Gateway) -> str:
    return gw.role_token(Role.MANAGER, "boss")


async def ids(gw: Gateway, token: str, **params: Any) -> list[str]:
    status, body = await get(gw, token, **params)
    assert status == 200, body
    return [lead["id"] for lead in body["leads"]]


async def test_a_manager_lists_every_open_lead_newest_first(pool: Gateway) -> None:
    assert await ids(pool, boss(pool)) == ["N2", "BIG", "S1", "E1", "N1"]
    assert await ids(pool, boss(pool), team="north") == ["N2", "BIG", "S1", "E1", "N1"]


@pytest.mark.parametrize(("params", "expected"), [
    ({"region": "east"}, ["E1"]),
    ({"skill": "solar"}, ["S1"]),
    ({"min_value": 300}, ["BIG", "S1", "E1"]),
    ({"min_value": "499.5"}, ["BIG", "S1"]),
    ({"priority": 1}, ["S1", "N1"]),
    ({"customer": "C2"}, ["BIG"]),
    ({"region": "north", "priority": 1}, ["S1", "N1"]),
])
async def test_each_filter(pool: Gateway, params: dict[str, Any], expected: list[str]) -> None:
    assert await ids(pool, boss(pool), **params) == expected


async def test_older_than_counts_from_opening(pool: Gateway) -> None:
    assert await ids(pool, boss(pool), older_than_ms=60_000) == []
    await asyncio.sleep(0.3)
    assert await ids(pool, boss(pool), older_than_ms=200) == ["N2", "BIG", "S1", "E1", "N1"]


async def test_pages_follow_the_cursor_to_the_end(pool: Gateway) -> None:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        status, body = await get(pool, boss(pool), **params)
        assert status == 200 and len(body["leads"]) <= 2
        seen += [lead["id"] for lead in body["leads"]]
        cursor = body["next_cursor"]
    assert seen == ["N2", "BIG", "S1", "E1", "N1"] and cursor is None


async def test_a_rep_lists_only_what_it_may_see(pool: Gateway) -> None:
    # ben: silver, north only; BIG opens for silver in 60 s; E1 is east
    status, body = await get(pool, pool.token("ben"))
    assert status == 200
    listed = {lead["id"]: lead for lead in body["leads"]}
    assert set(listed) == {"N2", "BIG", "N1"}  # not E1 (region), not S1 (skill solar)
    assert listed["BIG"]["opens_ms"] > listed["BIG"]["published_ms"]
    assert listed["N2"]["holder"] is None and "opens_ms" not in listed["N2"]
    assert await ids(pool, pool.token("ben"), region="east") == []
    # ann: gold, every region, no skills: all but the solar lead
    assert await ids(pool, pool.token("ann")) == ["N2", "BIG", "E1", "N1"]


async def test_held_leads_are_for_managers(pool: Gateway) -> None:
    async with connect(pool, "ann") as ann:
        await ann.recv_type("welcome")
        await ann.send({"type": "claim", "req_id": "1", "lead_id": "N1"})
        assert (await ann.recv_type("claim_result"))["result"] == "won"
    status, body = await get(pool, boss(pool), state="held")
    assert [(x["id"], x["holder"]) for x in body["leads"]] == [("N1", "ann")]
    assert "N1" not in await ids(pool, boss(pool))
    status, body = await get(pool, pool.token("ann"), state="held")
    assert status == 400 and body["error"]["code"] == "bad_field"


@pytest.mark.parametrize(("params", "status"), [
    ({"min_value": "lots"}, 400), ({"priority": "-1"}, 400), ({"cursor": "nope"}, 400),
    ({"colour": "red"}, 400), ({"state": "gone"}, 400), ({"team": "south"}, 400),
])
async def test_bad_parameters_are_400(pool: Gateway, params: dict[str, Any], status: int) -> None:
    got, body = await get(pool, boss(pool), **params)
    assert got == status and "error" in body


async def test_a_rep_cannot_list_another_team(pool: Gateway) -> None:
    status, _ = await get(pool, pool.token("ben"), team="south")
    assert status == 403


async def test_a_manager_scoped_to_other_teams_lists_nothing_here(pool: Gateway) -> None:
    scoped = pool.authority.mint(Role.MANAGER, "south-boss", ttl_s=600, teams=["south"])
    status, body = await get(pool, scoped, team="north")
    assert status == 403 and body["error"]["code"] == "forbidden"
    north = pool.authority.mint(Role.MANAGER, "north-boss", ttl_s=600, teams=["north"])
    assert await ids(pool, north, team="north") == ["N2", "BIG", "S1", "E1", "N1"]


async def test_recent_lists_finished_leads_newest_first_for_managers(pool: Gateway) -> None:
    async with connect(pool, "ann") as ann:
        await ann.recv_type("welcome")
        await ann.send({"type": "claim", "req_id": "1", "lead_id": "N1"})
        assert (await ann.recv_type("claim_result"))["result"] == "won"
        await ann.send({"type": "close", "lead_id": "N1", "outcome": "won"})
        assert (await ann.recv_type("action_result"))["ok"] is True
    async with aiohttp.ClientSession() as http, http.post(
            pool.url("/api/leads/E1/withdraw?team=north"), json={"reason": "spam"},
            headers={"Authorization": f"Bearer {boss(pool)}"}) as resp:
        assert resp.status == 200
    status, body = await get(pool, boss(pool), state="recent", limit=1)
    assert status == 200 and [x["id"] for x in body["leads"]] == ["E1"]
    assert body["leads"][0]["state"] == "withdrawn" and body["leads"][0]["withdrawn_ms"]
    status, body = await get(pool, boss(pool), state="recent", cursor=body["next_cursor"])
    assert [(x["id"], x["outcome"], x["holder"]) for x in body["leads"]] == [
        ("N1", "won", "ann")]
    assert await ids(pool, boss(pool), state="recent", region="north") == ["N1"]
    status, _ = await get(pool, pool.token("ann"), state="recent")
    assert status == 400
