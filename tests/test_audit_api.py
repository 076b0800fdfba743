"""The manager's audit API: complete ordered paging, JSONL/CSV exports, bad params, roles."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from server.floor import audit_log
from server.floor.audit_log import AuditQuery
from server.store import keys
from server.store.store import Store
from server.web.auth import Role
from server.web.manager_api import typed
from tests.conftest import Gateway
from tests.helpers import from_csv_row
from tests.test_fairness import fair_gateway, grab
from tests.test_http import call

ODD = {"action": "note", "ts": "1", "custom": 'comma, "quote"\nnewline', "ünï": "cödé"}


async def fill(gw: Gateway, leads: int = 12) -> list[dict[str, str]]:
    """Real audit entries (publish, won, lost) plus one with unknown fields; all of them."""
    crm = gw.role_token(Role.INTEGRATION, "crm")
    for n in range(leads):
        await call(gw, "POST", "/api/leads", crm, {"id": f"L{n}", "team": "north"})
        await grab(gw, f"r{n % 4}", f"L{n}")
        await grab(gw, f"r{(n + 1) % 4}", f"L{n}")
    await gw.redis.xadd(keys.audit("north"), ODD)
    return await stored(gw.redis)


async def stored(redis: Redis, start: str = "-", end: str = "+") -> list[dict[str, str]]:
    rows = await redis.xrange(keys.audit("north"), start, end)
    return [{"id": entry_id, **fields} for entry_id, fields in rows]


async def get_raw(gw: Gateway, path: str, token: str) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.get(gw.url(path), headers=headers) as resp:
        return resp.status, await resp.text()


async def pages(gw: Gateway, query: str) -> tuple[list[dict[str, Any]], int]:
    """Follow `next` to the end; returns every entry and the number of pages."""
    token, entries, count, cursor = gw.role_token(Role.MANAGER), [], 0, ""
    while True:
        status, body = await call(gw, "GET", f"/api/audit?{query}{cursor}", token)
        assert status == 200, body
        entries += body["entries"]
        count += 1
        if body["next"] is None:
            return entries, count
        cursor = f"&cursor={body['next']}"


async def test_paging_is_complete_and_ordered(redis: Redis, redis_url: str,
                                              tmp_path: Path) -> None:
    async with fair_gateway(redis, redis_url, tmp_path, None) as gw:
        everything = await fill(gw)
        got, count = await pages(gw, "team=north&limit=7")
        assert got == typed(everything) and count == -(-len(everything) // 7)
        bob, _ = await pages(gw, "limit=5&rep=r1")
        assert bob == typed([e for e in everything if e.get("rep") == "r1"]) and len(bob) == 6
        lead, _ = await pages(gw, "limit=2&lead=L3")
        assert [e["action"] for e in lead] == ["publish", "claim", "claim"]
        since, until = everything[5]["id"], everything[20]["id"]
        bounded, _ = await pages(gw, f"limit=4&since={since}&until={until}")
        assert bounded == typed(everything[5:21])
        assert everything[5:21] == await stored(redis, since, until)
        since_ms, until_ms = since.split("-")[0], until.split("-")[0]
        by_ms, _ = await pages(gw, f"since={since_ms}&until={until_ms}")
        assert by_ms == typed(await stored(redis, since_ms, until_ms)) and len(by_ms) >= 16


async def test_a_page_stops_at_its_scan_budget_with_a_cursor(redis: Redis,
                                                             store: Store) -> None:
    for n in range(30):
        await redis.xadd(keys.audit("north"), {"action": "claim", "rep": "x" if n % 10 else "y"})
    query, found, pages_read = AuditQuery("north", rep="y", limit=10), [], 0
    while True:
        page = await audit_log.page(store, query, budget=8)
        found += page.entries
        pages_read += 1
        if page.next is None:
            break
        query = AuditQuery("north", "(" + page.next, rep="y", limit=10)
    assert [e["rep"] for e in found] == ["y"] * 3 and pages_read == 4


async def test_exports_parse_back_to_the_same_entries(redis: Redis, redis_url: str,
                                                      tmp_path: Path) -> None:
    async with fair_gateway(redis, redis_url, tmp_path, None) as gw:
        everything = await fill(gw, leads=4)
        token = gw.role_token(Role.MANAGER)
        status, text = await get_raw(gw, "/api/audit?format=jsonl&limit=1", token)
        assert status == 200
        assert [json.loads(line) for line in text.splitlines()] == typed(everything)
        status, text = await get_raw(gw, "/api/audit?format=csv", token)
        rows = list(csv.DictReader(io.StringIO(text)))
        assert status == 200 and [from_csv_row(r) for r in rows] == everything
        assert tuple(rows[0]) == audit_log.CSV_HEADER
        assert json.loads(rows[-1]["extra"]) == {"custom": ODD["custom"], "ünï": "cödé"}
        status, text = await get_raw(gw, "/api/audit?format=csv&rep=r2", token)
        assert [from_csv_row(r) for r in csv.DictReader(io.StringIO(text))] == [
            e for e in everything if e.get("rep") == "r2"]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"), ("limit=abc", "limit"), ("limit=1001", "limit"),
        ("since=yesterday", "since"), ("until=12-x", "until"),
        ("since=2000&until=1000", "until"), ("cursor=nope", "cursor"),
        ("cursor=1700000000000", "cursor"), ("format=xml", "format"), ("team=south", "team"),
        ("lmit=5", "lmit"),
    ],
)
async def test_bad_audit_params_name_the_param(gateway: Gateway, query: str, param: str) -> None:
    status, body = await call(gateway, "GET", f"/api/audit?{query}",
                              gateway.role_token(Role.MANAGER))
    assert status == 400 and body["error"]["code"] == "bad_field"
    assert body["error"]["message"].startswith(f"{param}: ")


@pytest.mark.parametrize("query", ["window=2h", "team=south", "teem=north"])
async def test_bad_fairness_params_name_the_param(gateway: Gateway, query: str) -> None:
    status, body = await call(gateway, "GET", f"/api/fairness?{query}",
                              gateway.role_token(Role.MANAGER))
    assert status == 400 and body["error"]["message"].split(":")[0] == query.split("=")[0]


@pytest.mark.parametrize("path", ["/api/audit", "/api/audit?format=csv", "/api/fairness"])
async def test_manager_endpoints_refuse_other_roles(gateway: Gateway, path: str) -> None:
    for token, status in [(gateway.token("alice"), 403),
                          (gateway.role_token(Role.INTEGRATION), 403), (None, 401)]:
        got = await call(gateway, "GET", path, token)
        assert got[0] == status and got[1]["error"]["code"] in ("forbidden", "auth_failed")
