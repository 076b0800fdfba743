"""Floor policies over real WebSockets and HTTP: warnings, recycling, pauses, stages, dispatch."""

from __future__ import annotations

import time
from typing import Any

import pytest

from server.web.auth import Role
from tests.conftest import Gateway
from tests.helpers.gateways import gateway_with
from tests.helpers.http import post, publish
from tests.test_ws import Peer, connect

WAIT_S = 5.0  # the app runs on real time; timers poll Redis every 0.2 s
RULES = ("max_open = 3, max_daily = 50, cooldown_after_claim_ms = 0, "
         "penalty_cooldown_ms = 60000, followup_sla_ms = 600, warn_before_ms = 300, "
         "max_hold_ms = 60000, reclaim_lockout_ms = 60000")
BODY = f"""
[teams.north]
timezone = "Europe/Berlin"
release = {{ min_value = 1000, stages = [{{ tiers = ["gold"], after_ms = 0 }},
                                        {{ tiers = ["silver"], after_ms = 1500 }}] }}
protection_period_ms = 600000
owner_window_ms = 2000
rules = {{ {RULES} }}

[tiers.gold]
[tiers.silver]

[[reps]]
id = "ann"
team = "north"
tier = "gold"

[[reps]]
id = "ben"
team = "north"
tier = "silver"

[[reps]]
id = "cat"
team = "north"
tier = "silver"

[[reps]]
id = "dan"
team = "north"
tier = "gold"
regions = ["east"]
"""


floor = gateway_with("floor", BODY)  # short real-time floor policies, on real sockets


def manager(gw: Gateway) -> str:
    return gw.role_token(Role.MANAGER, "boss")


async def ready(*peers: Peer) -> None:
    for peer in peers:
        await peer.recv_type("welcome")


async def offer_of(peer: Peer, lead_id: str, timeout: float = WAIT_S) -> dict[str, Any]:
    """The next `lead` frame, which must be this lead."""
    frame = await peer.recv_type("lead", timeout)
    assert frame["lead_id"] == lead_id
    return frame


async def claim(peer: Peer, lead_id: str, req_id: str) -> dict[str, Any]:
    await peer.send({"type": "claim", "req_id": req_id, "lead_id": lead_id})
    return await peer.recv_type("claim_result")


async def frames_until(peer: Peer, kind: str, timeout: float = WAIT_S) -> list[dict[str, Any]]:
    """Every frame up to and including the first of `kind`."""
    seen = [await peer.recv(timeout)]
    while seen[-1]["type"] != kind:
        seen.append(await peer.recv(timeout))
    return seen


async def test_holder_is_warned_then_revoked_and_everyone_is_reoffered(floor: Gateway) -> None:
    async with (connect(floor, "ann") as ann, connect(floor, "ben") as ben,
                connect(floor, "cat") as cat, connect(floor, "dan") as dan):
        await ready(ann, ben, cat, dan)
        await publish(floor, "L1", value=100, region="north")
        first = [(await offer_of(p, "L1"))["seq"] for p in (ann, ben, cat)]
        assert (await claim(ann, "L1", "a1"))["result"] == "won"
        seen = await frames_until(ann, "revoked")
        kinds = [f["type"] for f in seen]
        assert kinds.count("warning") == 1 and kinds.index("warning") < kinds.index("revoked")
        warning = seen[kinds.index("warning")]
        assert (warning["lead_id"], warning["kind"]) == ("L1", "followup")
        assert (seen[-1]["lead_id"], seen[-1]["reason"]) == ("L1", "followup")
        for peer in (ben, cat):
            again = await offer_of(peer, "L1")
            assert again["seq"] != first[0]
        assert (await dan.recv_type("lead_taken"))["lead_id"] == "L1"
        await dan.nothing(0.3)  # not eligible for a north lead: never offered it
        assert (await claim(ann, "L1", "a2"))["reason"] == "locked_out"
        assert (await claim(ben, "L1", "b1"))["result"] == "won"


async def test_followup_frame_answers_with_the_next_deadline(floor: Gateway) -> None:
    await publish(floor, "L1")
    async with connect(floor, "ann") as ann:
        await ready(ann)
        assert (await claim(ann, "L1", "a1"))["result"] == "won"
        seconds, micros = await floor.redis.time()
        await ann.send({"type": "followup", "lead_id": "L1", "note": "called"})
        result = await ann.recv_type("action_result")
        assert (result["action"], result["ok"], result["lead_id"]) == ("followup", True, "L1")
        now_ms = seconds * 1000 + micros // 1000
        assert now_ms + 59_000 <= result["deadline_ms"] <= now_ms + 61_000
        await ann.send({"type": "followup", "lead_id": "NOPE"})
        refused = await ann.recv_type("action_result")
        assert (refused["ok"], refused["reason"]) == (False, "not_found")
        await ann.nothing(1.0)  # past the old 600 ms SLA: no warning, no revoke


async def test_paused_rep_gets_no_offers_until_resumed(floor: Gateway) -> None:
    async with connect(floor, "ann") as ann, connect(floor, "ben") as ben:
        await ready(ann, ben)
        await ann.send({"type": "pause"})
        got = await ann.collect("action_result", "paused")
        assert (got["action_result"]["action"], got["action_result"]["ok"]) == ("pause", True)
        assert got["paused"]["paused"] is True
        await publish(floor, "P1")
        await offer_of(ben, "P1")
        await ann.nothing(0.5)
        assert (await claim(ann, "P1", "a1"))["reason"] == "not_open"
        await ann.send({"type": "resume"})
        got = await ann.collect("action_result", "paused")
        assert (got["action_result"]["action"], got["paused"]["paused"]) == ("resume", False)
        await publish(floor, "P2")
        await offer_of(ann, "P2")  # P1 is not replayed on resume


async def test_silver_is_offered_only_when_its_stage_opens(floor: Gateway) -> None:
    async with connect(floor, "ann") as ann, connect(floor, "ben") as ben:
        await ready(ann, ben)
        started = time.monotonic()
        await publish(floor, "BIG", value=5000)
        gold = await offer_of(ann, "BIG", 2.0)
        assert time.monotonic() - started < 1.2  # well before silver's stage opens
        early = await claim(ben, "BIG", "b1")
        assert early["reason"] == "not_open" and 0 < early["retry_after_ms"] <= 1500
        silver = await offer_of(ben, "BIG")
        assert time.monotonic() - started >= 1.45 and silver["seq"] != gold["seq"]
        assert (await claim(ben, "BIG", "b2"))["result"] == "won"
        await ann.recv_type("lead_taken")
        await ann.nothing(0.3)  # the silver stage offer is not sent to gold again


async def test_owner_claims_a_valuable_lead_inside_its_window(floor: Gateway) -> None:
    async with connect(floor, "ann") as ann, connect(floor, "ben") as ben:
        await ready(ann, ben)
        await publish(floor, "C0", value=100, customer_id="C1")
        assert (await claim(ben, "C0", "b0"))["result"] == "won"
        await ben.send({"type": "close", "lead_id": "C0", "outcome": "won"})
        assert (await ben.recv_type("action_result"))["ok"] is True
        await ann.recv_type("lead_taken")
        await publish(floor, "C2", value=5000, customer_id="C1")
        await offer_of(ben, "C2", 2.0)  # silver, but the customer's owner: offered at once
        await ann.nothing(0.3)
        assert (await claim(ben, "C2", "b2"))["result"] == "won"
        assert (await ann.recv_type("lead_taken"))["lead_id"] == "C2"


async def test_dispatch_and_reassign_over_http(floor: Gateway) -> None:
    async with (connect(floor, "ann") as ann, connect(floor, "ben") as ben,
                connect(floor, "cat") as cat):
        await ready(ann, ben, cat)
        await publish(floor, "D1")
        for peer in (ann, ben, cat):
            await offer_of(peer, "D1")
        status, body = await post(floor, "/api/leads/D1/dispatch", {"rep": "ben"},
                                  manager(floor))
        assert (status, body["ok"]) == (200, True)
        assigned = await ben.recv_type("assigned")
        assert (assigned["lead_id"], assigned["by"]) == ("D1", "manager:boss")
        for peer in (ann, cat):
            assert (await peer.recv_type("lead_taken"))["lead_id"] == "D1"
        status, body = await post(floor, "/api/leads/D1/dispatch",
                                  {"rep": "cat", "reason": "ben is on leave"}, manager(floor))
        assert (status, body["detail"]) == (200, "ben")
        assert (await cat.recv_type("assigned"))["lead_id"] == "D1"
        revoked = await ben.recv_type("revoked")
        assert (revoked["lead_id"], revoked["reason"]) == ("D1", "reassigned")
        assert (await ann.recv_type("lead_taken"))["lead_id"] == "D1"


async def test_withdrawn_lead_is_taken_from_everyone(floor: Gateway) -> None:
    async with (connect(floor, "ann") as ann, connect(floor, "ben") as ben,
                connect(floor, "cat") as cat):
        await ready(ann, ben, cat)
        await publish(floor, "W1")
        await ann.send({"type": "claim", "req_id": "a1", "lead_id": "W1"})
        assert (await ann.collect("claim_result", "lead_taken"))["claim_result"]["result"] == "won"
        for peer in (ben, cat):
            await peer.recv_type("lead_taken")
        status, body = await post(floor, "/api/leads/W1/withdraw", {"reason": "spam"},
                                  manager(floor))
        assert (status, body["detail"]) == (200, "ann")
        withdrawn = await frames_until(ann, "revoked")
        assert withdrawn[-1]["reason"] == "withdrawn"
        assert [f["lead_id"] for f in withdrawn if f["type"] == "lead_taken"] == ["W1"]
        for peer in (ben, cat):
            assert (await peer.recv_type("lead_taken"))["lead_id"] == "W1"
        assert (await claim(ben, "W1", "b1"))["reason"] == "closed"


async def test_http_followup_and_pause_by_the_rep_itself(floor: Gateway) -> None:
    await publish(floor, "H1")
    ann = floor.token("ann")
    status, body = await post(floor, "/api/leads/H1/claim", {"req_id": "x"}, ann)
    assert (status, body["result"]) == (200, "won")
    status, body = await post(floor, "/api/leads/H1/followup", {"note": "visited"}, ann)
    assert (status, body["ok"]) == (200, True) and body["deadline_ms"] > 0
    status, body = await post(floor, "/api/leads/H1/followup", {}, floor.token("ben"))
    assert (status, body["reason"]) == (409, "not_holder")
    assert (await post(floor, "/api/reps/ann/pause", {}, ann))[0] == 200
    status, body = await post(floor, "/api/reps/ann/resume", {}, manager(floor))
    assert (status, body["ok"], body["status"]) == (200, True, "ok")


@pytest.mark.parametrize(
    ("path", "body", "raw", "who", "status", "code"),
    [
        ("/api/reps/ben/pause", {}, None, "ann", 403, "forbidden"),
        ("/api/leads/E1/dispatch", {"rep": "ben"}, None, "ann", 403, "forbidden"),
        ("/api/leads/E1/dispatch", {"rep": "ben"}, None, None, 401, "auth_failed"),
        ("/api/leads/E1/withdraw", {}, None, "ann", 403, "forbidden"),
        ("/api/leads/E1/dispatch", {"rep": 5}, None, "boss", 400, "bad_field"),
        ("/api/leads/E1/dispatch", {"rep": ""}, None, "boss", 400, "bad_field"),
        ("/api/leads/E1/dispatch", {"rep": "ben", "force": "yes"}, None, "boss", 400,
         "bad_field"),
        ("/api/leads/E1/dispatch", None, "{not json", "boss", 400, "bad_json"),
        ("/api/leads/E1/dispatch", None, "[1]", "boss", 400, "bad_json"),
        ("/api/leads/E1/dispatch?team=south", {"rep": "ben"}, None, "boss", 400, "bad_field"),
        ("/api/leads/E1/followup", {"note": 7}, None, "ann", 400, "bad_field"),
        ("/api/leads/E1/withdraw", {"reason": ["x"]}, None, "boss", 400, "bad_field"),
    ],
    ids=["pause-other-rep", "dispatch-rep-token", "dispatch-no-token", "withdraw-rep-token",
         "rep-not-string", "rep-empty", "force-not-bool", "not-json", "not-object",
         "unknown-team", "note-not-string", "reason-not-string"],
)
async def test_floor_endpoint_errors_change_nothing(floor: Gateway, path: str, body: Any,
                                                    raw: str | None, who: str | None,
                                                    status: int, code: str) -> None:
    await publish(floor, "E1")
    token = None if who is None else manager(floor) if who == "boss" else floor.token(who)
    got, data = await post(floor, path, body, token, raw)
    assert (got, data["error"]["code"]) == (status, code) and data["error"]["message"]
    lead = await floor.redis.hgetall("lg:{north}:lead:E1")
    assert (lead["state"], lead["holder"]) == ("open", "")
    assert await floor.redis.hget("lg:{north}:rep:ben", "paused") is None


async def test_dispatch_refusals_carry_the_reason(floor: Gateway) -> None:
    await publish(floor, "N1", region="north")
    boss = manager(floor)
    status, body = await post(floor, "/api/leads/N1/dispatch", {"rep": "dan"}, boss)
    assert (status, body["ok"], body["reason"]) == (409, False, "ineligible")
    status, body = await post(floor, "/api/leads/N1/dispatch", {"rep": "dan", "force": True},
                              boss)
    assert (status, body["ok"]) == (200, True)
    status, body = await post(floor, "/api/leads/N1/dispatch", {"rep": "ann"}, boss)
    assert (status, body["reason"]) == (409, "reason_required")
    status, body = await post(floor, "/api/leads/NOPE/dispatch", {"rep": "ann"}, boss)
    assert (status, body["reason"]) == (409, "not_found")
    status, body = await post(floor, "/api/leads/NOPE/withdraw", {}, boss)
    assert (status, body["reason"]) == (409, "not_found")
