"""Complaints and disputes over HTTP and /ws: roles, scopes, reason codes, frames, views."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from server.app import create_app
from server.web.auth import Role
from tests.conftest import Gateway, gateway_config, running
from tests.outcome_helpers import FLOOR, snapshot
from tests.test_policies_wire import post, ready
from tests.test_ws import connect, publish


@pytest.fixture
async def floor(redis: Redis, redis_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running(create_app(gateway_config(tmp_path, "", FLOOR), redis=redis_url),
                       redis) as gw:
        yield gw


async def get(gw: Gateway, path: str, token: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(
            gw.url(path), headers={"Authorization": f"Bearer {token}"}) as resp:
        data: dict[str, Any] = await resp.json()
        return resp.status, data


def tokens(gw: Gateway) -> dict[str, str]:
    return {"crm": gw.role_token(Role.INTEGRATION, "crm"),
            "boss": gw.role_token(Role.MANAGER, "boss"),
            "ann": gw.token("ann"), "ben": gw.token("ben")}


async def test_a_complaint_through_due_process_over_http_and_ws(floor: Gateway) -> None:
    t = tokens(floor)
    async with connect(floor, "ann") as ann:
        await ready(ann)
        await publish(floor, "L1")
        await ann.recv_type("lead")
        await ann.send({"type": "claim", "req_id": "r1", "lead_id": "L1"})
        assert (await ann.recv_type("claim_result"))["result"] == "won"
        body = {"id": "F1", "category": "rude", "text": "shouted at me"}
        status, answer = await post(floor, "/api/leads/L1/feedback", body, t["crm"])
        assert (status, answer["feedback"]["rep"], answer["feedback"]["status"]) == (
            201, "ann", "received")
        assert (await post(floor, "/api/leads/L1/feedback", body, t["crm"]))[0] == 200
        frame = await ann.recv_type("complaint")
        assert (frame["id"], frame["status"], frame["category"]) == ("F1", "received", "rude")
        status, answer = await post(floor, "/api/feedback/F1/ruling",
                                    {"decision": "upheld", "reason": "tape"}, t["boss"])
        assert (status, answer["feedback"]["status"]) == (200, "upheld")
        frame = await ann.recv_type("complaint")
        assert (frame["status"], frame["reason"]) == ("upheld", "tape")
        assert frame["appeal_until_ms"] > 0
        assert (await ann.recv_type("paused"))["paused"] is True
        status, answer = await post(floor, "/api/feedback/F1/appeal", {"reason": "no"}, t["ann"])
        assert (status, answer["feedback"]["status"]) == (200, "appealed")
        status, answer = await post(floor, "/api/feedback/F1/appeal-ruling",
                                    {"decision": "overturned", "reason": "wrong rep"},
                                    t["boss"])
        assert (status, answer["feedback"]["status"]) == (200, "overturned")
        assert (await ann.recv_type("complaint"))["status"] == "appealed"
        assert (await ann.recv_type("complaint"))["status"] == "overturned"
        assert (await ann.recv_type("paused"))["paused"] is False
    status, answer = await get(floor, "/api/feedback/F1", t["crm"])  # the 反馈 step
    assert (status, answer["feedback"]["status"], answer["feedback"]["counts"]) == (
        200, "overturned", False)
    status, answer = await get(floor, "/api/leads/L1", t["crm"])
    assert [f["id"] for f in answer["lead"]["feedback"]] == ["F1"]
    status, answer = await get(floor, "/api/reps/ann", t["ann"])
    assert [f["status"] for f in answer["feedback"]] == ["overturned"]


async def test_roles_and_bad_input_answer_4xx_with_a_reason_and_change_nothing(
        floor: Gateway, redis: Redis) -> None:
    t = tokens(floor)
    await publish(floor, "L1")
    await post(floor, "/api/leads/L1/claim", {"req_id": "r1"}, t["ann"])
    await post(floor, "/api/leads/L1/feedback", {"id": "F1", "category": "rude"}, t["crm"])
    before = await snapshot(redis)
    cases = [
        ("/api/leads/nope/feedback", {"id": "F2", "rating": 3}, "crm", 404, "not_found"),
        ("/api/leads/L1/feedback", {"id": "F2", "category": "smelly"}, "crm", 400,
         "unknown_category"),
        ("/api/leads/L1/feedback", {"id": "F2", "rating": 9}, "crm", 400, "bad_rating"),
        ("/api/feedback/F1/appeal", {"reason": "x"}, "ben", 403, "not_yours"),
        ("/api/feedback/F1/appeal", {"reason": "x"}, "ann", 409, "not_upheld"),
        ("/api/feedback/F1/appeal-ruling", {"decision": "overturned"}, "boss", 409,
         "not_appealed"),
    ]
    for path, body, who, code, reason in cases:
        status, answer = await post(floor, path, body, t[who])
        assert (status, answer.get("reason")) == (code, reason), (path, answer)
    for path, body, who, code in [
        ("/api/feedback/F1/ruling", {"decision": "upheld"}, "crm", 403),  # integration
        ("/api/feedback/F1/ruling", {"decision": "upheld"}, "ann", 403),  # a rep
        ("/api/feedback/F1/ruling", {"decision": "maybe"}, "boss", 400),
        ("/api/feedback/F1/appeal", {"reason": "x", "rep": "ben"}, "ann", 403),
        ("/api/leads/L1/feedback", {"id": "F2", "rating": 3, "category": "rude"}, "crm", 400),
        ("/api/leads/L1/feedback", {"id": "F2", "rating": "5"}, "crm", 400),
        ("/api/disputes/D1/ruling", {"decision": "keep"}, "crm", 403),
    ]:
        assert (await post(floor, path, body, t[who]))[0] == code, (path, body, who)
    assert await snapshot(redis) == before


async def test_a_dispute_over_http_is_seen_by_both_reps(floor: Gateway) -> None:
    t = tokens(floor)
    async with connect(floor, "ann") as ann, connect(floor, "ben") as ben:
        await ready(ann, ben)
        await publish(floor, "L1", customer_id="C1")
        await post(floor, "/api/leads/L1/claim", {"req_id": "r1"}, t["ann"])
        status, answer = await post(floor, "/api/leads/L1/disputes",
                                    {"id": "D1", "evidence": "called in May"}, t["ben"])
        assert (status, answer["dispute"]["holder"]) == (201, "ann")
        for peer in (ann, ben):
            assert (await peer.recv_type("dispute"))["status"] == "open"
        status, answer = await post(floor, "/api/disputes/D1/ruling",
                                    {"decision": "reassign", "reason": "log"}, t["boss"])
        assert (status, answer["dispute"]["status"]) == (200, "reassigned")
        for peer in (ann, ben):
            frame = await peer.recv_type("dispute")
            assert (frame["status"], frame["rep"], frame["holder"]) == ("reassigned", "ben", "ann")
        assert (await ben.recv_type("assigned"))["lead_id"] == "L1"
    for who in ("ann", "ben"):
        status, answer = await get(floor, "/api/disputes/D1", t[who])
        assert status == 200
        status, answer = await get(floor, "/api/leads/L1", t[who])
        assert [d["status"] for d in answer["lead"]["disputes"]] == ["reassigned"]
        assert answer["lead"]["holder"] == "ben"
