"""Issue 15, findings 1-4, 11, 12: hostile input gets a clear error, hurts no other request,
grows nothing without bound and leaves nothing permanent behind."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import pytest
from redis.asyncio import Redis

from server.app import create_app
from server.protocol import Codec
from server.store import batch
from server.web.auth import Role
from tests.conftest import Gateway, gateway_config, running
from tests.test_ws import connect, publish

SURROGATE_BODY = b'{"note": "\\ud800"}'


async def call(gw: Gateway, method: str, path: str, body: bytes | None = None,
               token: str | None = None, headers: dict[str, str] | None = None,
               ) -> tuple[int, str, Any]:
    sent = {"Authorization": f"Bearer {token}"} if token else {}
    sent.update(headers or {})
    async with aiohttp.ClientSession() as http, http.request(
            method, gw.url(path), data=body, headers=sent) as resp:
        text = await resp.text()
        return resp.status, resp.content_type, json.loads(text) if text[:1] == "{" else text


# ---- finding 1: one request poisons its batch --------------------------------------------

async def test_a_surrogate_in_one_request_fails_no_other_claim(gateway: Gateway) -> None:
    """Claims and poisoned follow-ups in the same loop ticks: every claim is answered."""
    await publish(gateway, "L1")
    leads = [f"B{n}" for n in range(40)]
    for lead in leads:
        await publish(gateway, lead)
    rep = gateway.token("alice")
    bad = [call(gateway, "POST", "/api/leads/L1/followup", SURROGATE_BODY, rep)
           for _ in range(40)]
    bad += [call(gateway, "POST", f"/api/leads/{lead}/claim",
                 b'{"req_id": "\\udc00"}', gateway.token("bob")) for lead in leads[:20]]
    good = [call(gateway, "POST", "/api/config/reload", None,
                 gateway.role_token(Role.MANAGER))]
    good += [call(gateway, "GET", f"/api/leads/{lead}?team=north", None, rep)
             for lead in leads]
    answers = await asyncio.gather(*bad, *good)
    assert {a[0] for a in answers[:60]} == {400}
    assert all(a[2]["error"]["code"] == "bad_field" for a in answers[:60])
    assert "not valid Unicode" in answers[0][2]["error"]["message"]
    assert [a[0] for a in answers[61:]] == [200] * 40
    assert (await call(gateway, "POST", "/api/leads/B1/claim", b'{"req_id": "ok-1"}',
                       gateway.token("bob")))[2]["result"] == "won"


async def test_a_call_that_cannot_be_packed_fails_alone(redis: Redis) -> None:
    """Below the boundary too: the batcher fails the one call, the others run."""
    from server.store.keys import ScriptCall
    from server.store.scripts import register

    scripts = register(redis)
    await redis.script_load(scripts.claim_lead.script)
    batcher = batch.Batcher(redis)
    echo = redis.register_script("return ARGV[1]")
    await redis.script_load(echo.script)
    futures = [batcher.submit(echo, ScriptCall([], [f"ok{n}" if n != 3 else "\ud800"]))
               for n in range(8)]
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert isinstance(results[3], Exception) and "cannot send" in str(results[3])
    assert [r for n, r in enumerate(results) if n != 3] == [
        f"ok{n}" for n in range(8) if n != 3]


# ---- finding 2: handler crashes instead of error frames ---------------------------------

@pytest.mark.parametrize("codec", [Codec.JSON, Codec.MSGPACK])
@pytest.mark.parametrize("hello_first", [True, False])
async def test_hostile_frames_get_error_frames(gateway: Gateway, codec: Codec,
                                               hello_first: bool,
                                               caplog: pytest.LogCaptureFixture) -> None:
    surrogate: str | bytes = '{"type":"\\ud800"}' if codec is Codec.JSON \
        else b"\x81\xa4type\xa3\xed\xa0\x80"
    deep: str | bytes = '{"type":"claim","req_id":' + "[" * 1000 + "]" * 1000 + "}" \
        if codec is Codec.JSON else b"\x81\xa4type" + b"\x91" * 1000 + b"\xc0"
    for raw in (surrogate, deep):
        async with connect(gateway, "alice" if hello_first else None, codec) as peer:
            if hello_first:
                await peer.recv_type("welcome")
            await peer.ws.send(raw)
            error = await peer.recv_type("error")
            assert error["code"] == ("bad_frame" if hello_first else "not_authenticated") \
                or error["code"] == "bad_frame"
            if hello_first:  # the session goes on
                await peer.send({"type": "pause"})
                assert (await peer.recv_type("action_result"))["ok"] is True
    assert "Traceback" not in caplog.text and "Error handling request" not in caplog.text


async def test_a_bug_behind_a_frame_is_an_internal_error_frame(
        gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever fails behind a frame, the socket gets an error frame and stays usable."""
    from server.web.appkeys import ARBITER

    async def broken(*_: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(gateway.app[ARBITER], "release", broken)
    async with connect(gateway) as peer:
        await peer.recv_type("welcome")
        await peer.send({"type": "release", "lead_id": "L1"})
        error = await peer.recv_type("error")
        assert (error["code"], error["message"]) == ("internal", "internal error")
        await peer.send({"type": "pause"})
        assert (await peer.recv_type("action_result"))["ok"] is True


async def test_a_deeply_nested_json_body_is_a_400(gateway: Gateway) -> None:
    body = b'{"note":' + b"[" * 1000 + b"]" * 1000 + b"}"
    for depth_body in (body, b"[" * 50_000):
        status, ctype, answer = await call(gateway, "POST", "/api/leads/L1/followup",
                                           depth_body, gateway.token("alice"))
        assert (status, ctype) == (400, "application/json")
        assert answer["error"]["code"] in ("bad_json", "bad_field")


async def test_malformed_http_gets_json_and_a_warning(gateway: Gateway,
                                                     caplog: pytest.LogCaptureFixture,
                                                     ) -> None:
    port = gateway.server.port
    assert port is not None
    raw = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    caplog.set_level(logging.INFO)

    def ask() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(raw)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            return data

    answer = await asyncio.to_thread(ask)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.1 400", b"HTTP/1.0 400"))
    assert b"application/json" in head
    assert json.loads(body)["error"]["code"] == "bad_request"
    refused = [r for r in caplog.records if "malformed request" in r.getMessage()]
    assert refused and all(r.levelno == logging.WARNING and not r.exc_info for r in refused)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# ---- finding 3: every id and free-text field has a documented maximum ------------------

@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/leads/{long}/claim", b"{}"),
    ("POST", "/api/leads/{long}/release", b""),
    ("POST", "/api/leads/{long}/close", b'{"outcome": "won"}'),
    ("POST", "/api/leads/{long}/followup", b"{}"),
    ("GET", "/api/leads/{long}?team=north", None),
    ("GET", "/api/reps/{long}", None),
    ("POST", "/api/reps/{long}/pause", None),
    ("POST", "/api/leads/a%20b/claim", b"{}"),
    ("POST", "/api/leads/L1/claim", b'{"req_id": "' + b"r" * 65 + b'"}'),
    ("POST", "/api/leads/L1/claim", b'{"req_id": "a:b"}'),
    ("POST", "/api/leads/L1/followup", b'{"note": "' + b"n" * 2001 + b'"}'),
    ("POST", "/api/leads/L1/followup", b'{"note": "a\\u0000b"}'),
    ("POST", "/api/leads", b'{"team": "north", "customer_id": "' + b"c" * 129 + b'"}'),
    ("POST", "/api/leads", b'{"id": "' + b"L" * 129 + b'", "team": "north"}'),
    ("POST", "/api/leads", b'{"team": "north", "attrs": {"' + b"k" * 65 + b'": 1}}'),
])
async def test_over_long_or_odd_ids_are_refused_at_the_boundary(
        gateway: Gateway, method: str, path: str, body: bytes | None) -> None:
    path = path.replace("{long}", "x" * 129)
    token = gateway.role_token(Role.INTEGRATION) if path == "/api/leads" \
        else gateway.token("alice")
    if path.startswith("/api/reps"):
        token = gateway.role_token(Role.MANAGER)
    keys = await gateway.redis.dbsize()
    status, ctype, answer = await call(gateway, method, path, body, token)
    assert (status, ctype, answer["error"]["code"]) == (400, "application/json", "bad_field")
    assert await gateway.redis.dbsize() == keys  # nothing stored


@pytest.mark.parametrize(("frame", "field"), [
    ({"type": "claim", "req_id": "r1", "lead_id": "x" * 129}, "claim.lead_id"),
    ({"type": "claim", "req_id": "r:1", "lead_id": "L1"}, "claim.req_id"),
    ({"type": "release", "lead_id": "a b"}, "release.lead_id"),
    ({"type": "followup", "lead_id": "L1", "note": "\x07"}, "followup.note"),
])
async def test_frames_obey_the_same_limits(gateway: Gateway, frame: dict[str, Any],
                                           field: str) -> None:
    async with connect(gateway) as peer:
        await peer.recv_type("welcome")
        await peer.send(frame)
        error = await peer.recv_type("error")
        assert error["code"] == "bad_field" and error["message"].startswith(field)


async def test_requests_on_unknown_leads_are_not_remembered(gateway: Gateway) -> None:
    """The gateway keeps no per-lead memory for leads that do not exist (RSS stays flat)."""
    from server.web.appkeys import ARBITER

    for n in range(20):
        lead = f"{n:012d}" + "x" * 116
        for action in ("claim", "release"):
            await call(gateway, "POST", f"/api/leads/{lead}/{action}", b"{}",
                       gateway.token("alice"))
    assert not [key for key in gateway.app[ARBITER].store._customers if key[1].endswith("x")]


def test_long_arguments_are_not_remembered() -> None:
    """The packer's cache keeps short, repeating arguments only: maximal ids pass through."""
    batch._BULK.clear()
    batch._bulk("lg:{north}:lead:" + "x" * 128)
    batch._bulk("lg:{north}:audit")
    assert list(batch._BULK) == ["lg:{north}:audit"]


# ---- finding 4: nothing permanent about a lead that does not exist ----------------------

async def test_claims_on_unknown_leads_leave_no_permanent_key(gateway: Gateway) -> None:
    before = {k async for k in gateway.redis.scan_iter()}
    for n in range(20):
        status, _, answer = await call(gateway, "POST", f"/api/leads/nope-{n}/claim",
                                       json.dumps({"req_id": f"q{n}"}).encode(),
                                       gateway.token("alice"))
        assert (status, answer["reason"]) == (200, "not_found")
    new = {k async for k in gateway.redis.scan_iter()} - before
    assert new, "the stored answers (which expire) are expected"
    permanent = [k for k in new if await gateway.redis.pttl(k) == -1
                 and await gateway.redis.type(k) != "stream"]
    assert permanent == []


# ---- finding 11: wrong blame ------------------------------------------------------------

@pytest.mark.parametrize("attrs", [b'{"a": 1e400}', b'{"a": ' + b"9" * 400 + b"}",
                                   b'{"a": "\\ud800"}', b'{"a": "\\u0001"}'])
async def test_an_invalid_attribute_is_a_400_with_a_reason(gateway: Gateway,
                                                           attrs: bytes) -> None:
    body = b'{"id": "L9", "team": "north", "attrs": ' + attrs + b"}"
    status, _, answer = await call(gateway, "POST", "/api/leads", body,
                                   gateway.role_token(Role.INTEGRATION))
    assert (status, answer["error"]["code"]) == (400, "bad_field")
    assert "attrs.a" in answer["error"]["message"] or "Unicode" in answer["error"]["message"]


async def test_healthz_does_not_reveal_where_redis_is(tmp_path: Path) -> None:
    from server.store.embedded import EmbeddedRedis

    redis = EmbeddedRedis(tmp_path / "redis")
    url = await redis.start()
    client = Redis.from_url(url, decode_responses=True)
    try:
        async with running(create_app(gateway_config(tmp_path), redis=url), client) as gw:
            await redis.stop()
            status, _, answer = await call(gw, "GET", "/healthz")
            assert status == 503
            assert "sock" not in json.dumps(answer) and str(tmp_path) not in json.dumps(answer)
            await redis.start()
    finally:
        await client.aclose()
        await redis.stop()


# ---- finding 12: a reused req_id on another lead ---------------------------------------

WINDOW_TEAM = """
[teams.north]
timezone = "UTC"
mode = "window"
window_ms = 300
rules = { max_open = 5, max_daily = 50, cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }

[[reps]]
id = "alice"
team = "north"

[[reps]]
id = "bob"
team = "north"
"""


@pytest.mark.parametrize("transport", ["http", "ws"])
async def test_a_req_id_reused_on_another_lead_gets_a_final_answer(
        redis: Redis, redis_url: str, tmp_path: Path, transport: str) -> None:
    app = create_app(gateway_config(tmp_path, body=WINDOW_TEAM), redis=redis_url)
    async with running(app, redis) as gw:
        for lead in ("RQ-1", "RQ-2"):
            await publish(gw, lead)
        answers = [await claim(gw, transport, lead, "same-1") for lead in ("RQ-1", "RQ-2")]
        assert [a["result"] for a in answers] == ["pending", "pending"]
        assert [a["lead_id"] for a in answers] == ["RQ-1", "RQ-2"]
        await asyncio.sleep(1.0)  # both windows settle (alice is each one's only candidate)
        final = [await claim(gw, transport, lead, "same-1") for lead in ("RQ-1", "RQ-2")]
        assert [(a["lead_id"], a["result"]) for a in final] == [("RQ-1", "won"),
                                                                ("RQ-2", "won")]
        assert await redis.hget("lg:{north}:lead:RQ-2", "holder") == "alice"


async def claim(gw: Gateway, transport: str, lead: str, req_id: str) -> dict[str, Any]:
    if transport == "http":
        status, _, answer = await call(gw, "POST", f"/api/leads/{lead}/claim",
                                       json.dumps({"req_id": req_id}).encode(),
                                       gw.token("alice"))
        assert status == 200
        result: dict[str, Any] = answer
        return result
    async with connect(gw, "alice", Codec.MSGPACK) as peer:
        await peer.recv_type("welcome")
        await peer.send({"type": "claim", "req_id": req_id, "lead_id": lead})
        return await peer.recv_type("claim_result")


def test_msgpack_fixture_is_the_surrogate_it_claims_to_be() -> None:
    with pytest.raises(UnicodeDecodeError):
        msgpack.unpackb(b"\x81\xa4type\xa3\xed\xa0\x80", raw=False)
