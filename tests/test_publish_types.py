"""POST /api/leads takes exact JSON types: no quiet conversions, clear 400s, documented defaults."""

from __future__ import annotations

import json
from typing import Any

import pytest

from server.store import keys
from tests.conftest import Gateway
from tests.test_http import call, integration


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"team": "north", "value": "5000"}, "value: Input should be a valid number (got '5000')"),
        ({"team": "north", "value": True}, "value: Input should be a valid number (got True)"),
        ({"team": "north", "priority": "3"}, "priority: Input should be a valid integer"),
        ({"team": "north", "priority": 3.0}, "priority: Input should be a valid integer"),
        ({"team": "north", "skills": "solar"}, "skills: Input should be a valid array"),
        ({"team": "north", "skills": [7]}, "skills.0: Input should be a valid string"),
        ({"team": "north", "region": 5}, "region: Input should be a valid string"),
        ({"team": "north", "customer_id": 42}, "customer_id: Input should be a valid string"),
    ],
)
async def test_wrong_types_are_refused_not_converted(gateway: Gateway, body: dict[str, Any],
                                                     message: str) -> None:
    status, answer = await call(gateway, "POST", "/api/leads", integration(gateway), body)
    assert (status, answer["error"]["code"]) == (400, "bad_field")
    assert message in answer["error"]["message"]
    assert await gateway.redis.exists(keys.events("north")) == 0


async def test_value_defaults_to_zero_and_an_int_is_a_number(gateway: Gateway) -> None:
    token = integration(gateway)
    assert (await call(gateway, "POST", "/api/leads", token, {"team": "north", "id": "D0"}))[0] \
        == 201
    assert (await call(gateway, "POST", "/api/leads", token,
                       {"team": "north", "id": "D1", "value": 5000, "skills": ["solar"],
                        "attrs": {"n": 1, "ok": True, "s": "x"}}))[0] == 201
    entries = await gateway.redis.xrange(keys.events("north"))
    published = [json.loads(f["payload"]) for _, f in entries if "payload" in f]
    assert [(p["lead_id"], p["value"]) for p in published] == [("D0", 0), ("D1", 5000)]


@pytest.mark.parametrize("raw", [b"{nope", b'{"team": "north",}', b"\xff\xfe"])
async def test_invalid_json_is_bad_json(gateway: Gateway, raw: bytes) -> None:
    status, answer = await call(gateway, "POST", "/api/leads", integration(gateway), raw=raw)
    assert (status, answer["error"]["code"]) == (400, "bad_json")
    assert answer["error"]["message"] == "body is not valid JSON"


async def test_role_message_reads_an_integration(gateway: Gateway) -> None:
    status, answer = await call(gateway, "POST", "/api/leads", gateway.token("alice"),
                                {"team": "north"})
    assert status == 403
    assert answer["error"]["message"] == "this endpoint needs an integration or manager token"
