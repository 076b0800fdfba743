"""Lead, rep and audit responses are typed resources that match the OpenAPI schemas (jsonschema)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema

from server.contracts.audit_fields import AuditField
from server.floor.resources import audit_entry, lead_resource
from server.web.openapi import document, schema
from tests.conftest import Gateway
from tests.test_http import call, integration, manager

LEAD = {"id": "L-1001", "team": "north", "value": 5000.0, "priority": 2, "region": "east",
        "skills": ["solar"], "customer_id": "C-77",
        "attrs": {"source": "web", "note": '{"looks": ["like json"]}', "size": 40}}
ENCODED_ON_PURPOSE = {"note"}  # the integrator's own attribute value, kept as published


def strings(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a JSON value, with where it sits."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in ENCODED_ON_PURPOSE:
                yield from strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from strings(item, f"{where}[{n}]")


def storage_leaks(value: Any) -> list[str]:
    """Strings that hold JSON (an array, object or number): the storage encoding showing."""
    leaks = []
    for where, text in strings(value):
        try:
            decoded = json.loads(text)
        except ValueError:
            continue
        if isinstance(decoded, (list, dict, int, float)):
            leaks.append(f"{where}={text!r}")
    return leaks


def valid(name: str, body: Any) -> None:
    jsonschema.Draft202012Validator(schema(name),
                                    format_checker=jsonschema.FormatChecker()).validate(body)
    assert storage_leaks(body) == []


async def text(gw: Gateway, path: str) -> str:
    headers = {"Authorization": f"Bearer {manager(gw)}"}
    async with aiohttp.ClientSession() as http, http.get(gw.url(path), headers=headers) as resp:
        assert resp.status == 200
        return await resp.text()


async def busy_floor(gw: Gateway) -> None:
    """A held lead with a trail: published, claimed by alice (bob refused), followed up."""
    assert (await call(gw, "POST", "/api/leads", integration(gw), LEAD))[0] == 201
    await call(gw, "POST", "/api/leads", integration(gw), {"id": "L2", "team": "north"})
    won = await call(gw, "POST", "/api/leads/L-1001/claim", gw.token("alice"), {})
    assert won[1]["result"] == "won"
    await call(gw, "POST", "/api/leads/L-1001/claim", gw.token("bob"), {})
    await call(gw, "POST", "/api/leads/L-1001/followup", gw.token("alice"), {"note": "called"})


async def test_lead_resource_is_typed_and_matches_its_schema(gateway: Gateway) -> None:
    await busy_floor(gateway)
    status, view = await call(gateway, "GET", "/api/leads/L-1001", manager(gateway))
    assert status == 200
    valid("LeadView", view)
    lead = view["lead"]
    assert (lead["value"], lead["priority"], lead["skills"]) == (5000.0, 2, ["solar"])
    assert lead["attrs"] == LEAD["attrs"] and lead["holder"] == "alice" and lead["state"] == "held"
    assert isinstance(lead["claimed_ms"], int) and lead["claimed_at"].endswith("Z")
    assert lead["deadlines"] == []  # the test team sets no follow-up deadline
    assert [e["action"] for e in view["audit"]] == ["publish", "claim", "claim", "followup"]
    assert all(isinstance(e["ts"], int) for e in view["audit"])


async def test_pool_pages_are_typed_lead_resources(gateway: Gateway) -> None:
    """GET /api/leads gives each lead as GET /api/leads/{id} does (without the trail)."""
    await busy_floor(gateway)
    status, page = await call(gateway, "GET", "/api/leads?team=north", manager(gateway))
    assert status == 200
    valid("LeadPage", page)
    assert [lead["id"] for lead in page["leads"]] == ["L2"]
    single = (await call(gateway, "GET", "/api/leads/L2", manager(gateway)))[1]["lead"]
    assert {k: v for k, v in page["leads"][0].items() if not k.startswith("opened_")} == {
        k: v for k, v in single.items() if k not in ("feedback", "disputes")}  # the one lead's
    assert page["leads"][0]["opened_ms"] == single["published_ms"]
    status, held = await call(gateway, "GET", "/api/leads?team=north&state=held",
                              manager(gateway))
    valid("LeadPage", held)
    lead = held["leads"][0]
    assert (lead["id"], lead["holder"], lead["value"], lead["skills"]) == (
        "L-1001", "alice", 5000.0, ["solar"])
    assert lead["attrs"] == LEAD["attrs"] and isinstance(lead["claimed_ms"], int)
    await call(gateway, "POST", "/api/leads/L-1001/close", gateway.token("alice"),
               {"outcome": "won"})
    status, recent = await call(gateway, "GET", "/api/leads?team=north&state=recent",
                                manager(gateway))
    valid("LeadPage", recent)
    assert [(x["id"], x["outcome"], x["state"]) for x in recent["leads"]] == [
        ("L-1001", "won", "closed")]
    status, mine = await call(gateway, "GET", "/api/leads", gateway.token("bob"))
    assert status == 200 and [x["id"] for x in mine["leads"]] == ["L2"]
    valid("LeadPage", mine)


async def test_rep_resource_is_typed_and_matches_its_schema(gateway: Gateway) -> None:
    await busy_floor(gateway)
    status, rep = await call(gateway, "GET", "/api/reps/alice", gateway.token("alice"))
    assert status == 200
    valid("Rep", rep)
    assert (rep["today"], rep["held"], rep["open_held"]) == (1, ["L-1001"], 1)
    assert rep["online"] is False and rep["paused"] is False and rep["team"] == "north"
    assert isinstance(rep["cooldown_until_ms"], int) and rep["limits"]["max_open"] == 3


async def test_audit_page_jsonl_and_trail_give_the_same_typed_entries(gateway: Gateway) -> None:
    await busy_floor(gateway)
    status, page = await call(gateway, "GET", "/api/audit?team=north&lead=L-1001",
                              manager(gateway))
    assert status == 200
    valid("AuditPage", page)
    lines = (await text(gateway, "/api/audit?team=north&lead=L-1001&format=jsonl")).splitlines()
    exported = [json.loads(line) for line in lines]
    for entry in exported:
        valid("AuditEntry", entry)
    trail = (await call(gateway, "GET", "/api/leads/L-1001", manager(gateway)))[1]["audit"]
    assert exported == trail == page["entries"] and len(trail) == 4


async def test_audit_csv_keeps_flat_string_columns(gateway: Gateway) -> None:
    await busy_floor(gateway)
    rows = list(csv.DictReader(io.StringIO(
        await text(gateway, "/api/audit?team=north&lead=L-1001&format=csv"))))
    assert [r["action"] for r in rows] == ["publish", "claim", "claim", "followup"]
    assert rows[0]["value"] in ("5000", "5000.0") and rows[1]["ts"].isdigit()


def test_a_held_lead_shows_the_deadline_that_applies() -> None:
    raw = {"state": "held", "holder": "ann", "deadline_ms": "1795916899625",
           "deadline_kind": "followup", "owner_until_ms": "1795916000000", "skills": "[]",
           "payload": json.dumps({"value": 10.5, "attrs": {}})}
    lead = lead_resource("L9", "north", raw)
    valid("Lead", lead)
    assert lead["deadlines"] == [{"applies_to": "hold", "kind": "followup", "ms": 1795916899625,
                                  "at": "2026-11-29T01:48:19.625Z"}]
    assert lead["value"] == 10.5 and lead["published_ms"] is None


def test_every_audit_field_is_in_the_schema() -> None:
    documented = set(document()["components"]["schemas"]["AuditEntry"]["properties"])
    assert {field.value for field in AuditField} - documented == set()


def test_the_leak_check_catches_the_string_form() -> None:
    old = {"lead": {"skills": '["enterprise"]', "claimed_ms": "1795915999625"},
           "audit": [{"ts": "1795915999617", "audience": '{"tiers": ["gold"]}'}]}
    assert len(storage_leaks(old)) == 4


async def test_openapi_is_served(gateway: Gateway) -> None:
    status, doc = await call(gateway, "GET", "/api/openapi.json")
    assert status == 200 and doc == document() and doc["openapi"].startswith("3.1")
    for name, item in doc["components"]["schemas"].items():
        for example in item.get("examples", []):
            jsonschema.Draft202012Validator(schema(name)).validate(example)


SAMPLE = {"id": "x1", "path": "app.js"}


def _served(app: Any) -> set[tuple[str, str]]:
    """(method, regex) of every route, one per alternative of `{name:a|b}` segments."""
    served = set()
    for route in app.router.routes():
        if route.method not in ("GET", "POST"):
            continue
        info = route.resource.get_info()
        pattern = (info["pattern"].pattern if "pattern" in info
                   else re.escape(info["prefix"]) + "/.+" if "prefix" in info
                   else re.escape(info["path"]))
        alt = re.search(r"\(\?P<\w+>([\w|]+)\)", pattern)
        options = alt.group(1).split("|") if alt else [None]
        for option in options:
            served.add((route.method, pattern if alt is None or option is None
                        else pattern.replace(alt.group(0), option)))
    return served


def test_openapi_paths_and_methods_match_the_router(tmp_path: Path) -> None:
    from server.app import create_app
    from tests.conftest import gateway_config

    app = create_app(gateway_config(tmp_path), redis="redis://127.0.0.1:1/0")  # not started
    served = _served(app)
    documented = {(method.upper(), re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path))
                  for path, item in document()["paths"].items() for method in item}
    assert {(m, p) for m, p in documented
            if not any(m == sm and re.fullmatch(sp, p) for sm, sp in served)} == set()
    assert {(m, p) for m, p in served
            if not any(m == dm and re.fullmatch(p, dp) for dm, dp in documented)} == set()


def test_an_offer_entry_keeps_its_stream_id() -> None:
    """An `offer` entry's `seq` is the events-stream id of the offer, not a number (a typed
    view that cast it answered 500 for every lead with a release stage)."""
    entry = audit_entry("1795928330800-0", {"ts": "1795928330790", "action": "offer",
                                            "lead": "L-1", "seq": "1795928330772-0",
                                            "rules_version": "3"})
    assert entry["seq"] == "1795928330772-0" and entry["rules_version"] == 3
    valid("AuditEntry", entry)
