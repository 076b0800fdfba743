"""The WebSocket endpoint over real sockets: both codecs, auth, bad frames, resume, slow readers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgpack
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from server.protocol import CloseCode, Codec
from server.store import keys
from server.web.auth import Role, TokenAuthority
from tests.conftest import SECRET, Gateway
from tests.helpers.http import publish
from tests.test_client import short_lived

CODECS = [Codec.JSON, Codec.MSGPACK]


class Peer:
    """A test rep on a real WebSocket, speaking one codec."""

    def __init__(self, ws: ClientConnection, codec: Codec) -> None:
        self.ws, self.codec = ws, codec

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame) if self.codec is Codec.JSON
                           else msgpack.packb(frame))

    async def recv(self, timeout: float = 3.0) -> dict[str, Any]:
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        frame: dict[str, Any] = (json.loads(data) if isinstance(data, str)
                                 else msgpack.unpackb(data))
        return frame

    async def recv_type(self, kind: str, timeout: float = 3.0) -> dict[str, Any]:
        while True:
            frame = await self.recv(timeout)
            if frame["type"] == kind:
                return frame

    async def collect(self, *kinds: str) -> dict[str, dict[str, Any]]:
        """The first frame of each kind, whatever order they arrive in."""
        got: dict[str, dict[str, Any]] = {}
        while set(kinds) - set(got):
            frame = await self.recv()
            got.setdefault(frame["type"], frame)
        return got

    async def nothing(self, wait: float = 0.3) -> None:
        with pytest.raises(TimeoutError):
            await self.recv(wait)


@asynccontextmanager
async def connect(gw: Gateway, rep: str | None = "alice", codec: Codec = Codec.JSON,
                  resume: str | None = None, token: str | None = None) -> AsyncIterator[Peer]:
    async with websockets.connect(gw.ws_url, subprotocols=[codec.subprotocol]) as ws:  # type: ignore[list-item]
        peer = Peer(ws, codec)
        if rep is not None or token is not None:
            hello: dict[str, Any] = {"type": "hello", "token": token or gw.token(rep or "")}
            if resume:
                hello["resume"] = resume
            await peer.send(hello)
        yield peer


@pytest.mark.parametrize("codec", CODECS)
async def test_lead_claim_won_and_lost(gateway: Gateway, codec: Codec) -> None:
    async with connect(gateway, "alice", codec) as alice, connect(gateway, "bob", codec) as bob:
        welcome = await alice.recv_type("welcome")
        assert welcome["rep"] == "alice" and welcome["team"] == "north"
        assert welcome["quota"]["max_open"] == 3
        await bob.recv_type("welcome")
        await publish(gateway, "L1", value=500, region="north")
        lead = await alice.recv_type("lead")
        assert (lead["lead_id"], lead["value"], lead["region"]) == ("L1", 500, "north")
        assert (await bob.recv_type("lead"))["seq"] == lead["seq"]
        await alice.send({"type": "claim", "req_id": "a1", "lead_id": "L1"})
        alice_got = await alice.collect("claim_result", "lead_taken")
        await bob.send({"type": "claim", "req_id": "b1", "lead_id": "L1"})
        bob_got = await bob.collect("claim_result", "lead_taken")
        assert alice_got["claim_result"]["result"] == "won"
        assert bob_got["claim_result"]["result"] == "lost"
        assert alice_got["lead_taken"]["lead_id"] == bob_got["lead_taken"]["lead_id"] == "L1"


async def test_rejection_carries_reason_and_retry(gateway: Gateway) -> None:
    await publish(gateway, "L1")
    await publish(gateway, "L2")
    async with connect(gateway, "bob") as bob:
        await bob.recv_type("welcome")
        await bob.send({"type": "claim", "req_id": "1", "lead_id": "L1"})
        assert (await bob.recv_type("claim_result"))["result"] == "won"
        await bob.send({"type": "claim", "req_id": "2", "lead_id": "L2"})
        result = await bob.recv_type("claim_result")
        assert result["result"] == "rejected" and result["reason"] == "cooldown"
        assert 0 < result["retry_after_ms"] <= 1000


async def test_a_client_that_does_not_wait_is_answered_in_order(gateway: Gateway) -> None:
    """Frames sent without waiting for answers are handled one after another, as sent: the
    release sees the claim before it, and every answer comes in the order of the frames."""
    await publish(gateway, "L1")
    await publish(gateway, "L2")
    async with connect(gateway, "alice") as alice:
        await alice.recv_type("welcome")
        for raw in ('{"type": "claim", "req_id": "a1", "lead_id": "L1"}',
                    '{"type": "release", "lead_id": "L1"}',
                    '{"type": "claim", "req_id": "a2", "lead_id": "L2"}',
                    "{not json",
                    '{"type": "claim", "req_id": "a3", "lead_id": "NOPE"}'):
            await alice.ws.send(raw)
        answers = []
        while len(answers) < 5:
            frame = await alice.recv()
            if frame["type"] in ("claim_result", "action_result", "error"):
                answers.append(frame)
    assert [(f["type"], f.get("req_id"), f.get("result", f.get("ok", f.get("code"))))
            for f in answers] == [
        ("claim_result", "a1", "won"), ("action_result", None, True),
        ("claim_result", "a2", "rejected"), ("error", None, "bad_frame"),
        ("claim_result", "a3", "rejected")]
    assert await gateway.redis.hget(keys.lead("north", "L1"), "state") == "open"


async def test_lead_not_sent_to_ineligible_rep(gateway: Gateway) -> None:
    async with connect(gateway, "alice") as alice, connect(gateway, "bob") as bob:
        await alice.recv_type("welcome")
        await bob.recv_type("welcome")
        await publish(gateway, "EAST", region="east")
        await publish(gateway, "SOLAR", region="north", skills=["solar"])
        await publish(gateway, "OPEN", region="north")
        assert (await alice.recv_type("lead"))["lead_id"] == "EAST"
        assert (await bob.recv_type("lead"))["lead_id"] == "OPEN"  # EAST, SOLAR never sent


async def test_a_session_ends_when_its_token_expires(gateway: Gateway) -> None:
    token = short_lived("alice", 2.0)
    async with connect(gateway, token=token) as alice:
        await alice.recv_type("welcome")
        await publish(gateway, "L1")
        assert (await alice.recv_type("lead"))["lead_id"] == "L1"  # a live session meanwhile
        error = await alice.recv_type("error", timeout=8)
        assert (error["code"], error["message"]) == (
            "auth_failed", "the token expired: reconnect with a new token")
        with pytest.raises(ConnectionClosed) as closed:
            await alice.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.AUTH_FAILED
    async with connect(gateway, token=token) as again:  # and the same token is refused now
        assert (await again.recv())["code"] == "auth_failed"


@pytest.mark.parametrize(
    ("token_for", "code"),
    [
        (lambda gw: "not-a-jwt", CloseCode.AUTH_FAILED),
        (lambda gw: TokenAuthority("x" * 40).mint(Role.REP, "alice", team="north", ttl_s=60),
         CloseCode.AUTH_FAILED),
        (lambda gw: TokenAuthority(SECRET, clock=lambda: 0).mint(
            Role.REP, "alice", team="north", ttl_s=1), CloseCode.AUTH_FAILED),
        (lambda gw: gw.role_token(Role.MANAGER), CloseCode.AUTH_FAILED),
        (lambda gw: gw.token("mallory"), CloseCode.AUTH_FAILED),
    ],
    ids=["garbage", "bad-signature", "expired", "manager-token", "unknown-rep"],
)
async def test_bad_tokens_are_refused(gateway: Gateway, token_for: Any, code: int) -> None:
    async with connect(gateway, token=token_for(gateway)) as peer:
        error = await peer.recv()
        assert error["type"] == "error" and error["code"] == "auth_failed"
        with pytest.raises(ConnectionClosed) as closed:
            await peer.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == code


async def test_no_hello_times_out(redis: Any, redis_url: str, tmp_path: Any) -> None:
    from aiohttp.test_utils import TestServer

    from server.app import create_app
    from tests.conftest import SECRET, gateway_config

    app = create_app(gateway_config(tmp_path, "hello_timeout_ms = 200"), redis=redis_url)
    async with TestServer(app) as server:
        gw = Gateway(server, app, TokenAuthority(SECRET), redis)
        async with connect(gw, rep=None) as peer:
            assert (await peer.recv())["code"] == "not_authenticated"
            with pytest.raises(ConnectionClosed) as closed:
                await peer.recv()
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == CloseCode.HELLO_TIMEOUT


async def test_claim_before_hello_is_refused(gateway: Gateway) -> None:
    await publish(gateway, "L1")
    async with connect(gateway, rep=None) as peer:
        await peer.send({"type": "claim", "req_id": "x", "lead_id": "L1"})
        assert (await peer.recv())["code"] == "not_authenticated"
    assert await gateway.redis.hget(keys.lead("north", "L1"), "state") == "open"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_frame"),
        ("[1, 2]", "bad_frame"),
        ('{"type": "teleport"}', "unknown_type"),
        ('{"type": "claim", "req_id": "r"}', "bad_field"),
        ('{"type": "claim", "req_id": "r", "lead_id": 42}', "bad_field"),
        ('{"type": "claim", "req_id": "r", "lead_id": "L1", "rep": "bob"}', "forbidden"),
        (b"\x93\x01\x02", "bad_frame"),  # binary frame on the JSON subprotocol
    ],
)
async def test_bad_frames_get_errors_and_change_nothing(gateway: Gateway, raw: str | bytes,
                                                        code: str) -> None:
    await publish(gateway, "L1")
    async with connect(gateway, "alice") as alice:
        await alice.recv_type("welcome")
        await alice.ws.send(raw)
        error = await alice.recv_type("error")
        assert error["code"] == code and error["message"]
        await alice.send({"type": "claim", "req_id": "ok", "lead_id": "NOPE"})
        assert (await alice.recv_type("claim_result"))["reason"] == "not_found"
    assert await gateway.redis.hget(keys.lead("north", "L1"), "state") == "open"


async def test_bad_msgpack_frame(gateway: Gateway) -> None:
    async with connect(gateway, "alice", Codec.MSGPACK) as alice:
        await alice.recv_type("welcome")
        await alice.ws.send(b"\xc1\xff\x00")
        assert (await alice.recv_type("error"))["code"] == "bad_frame"


async def test_oversized_frame_closes_only_that_socket(gateway: Gateway) -> None:
    async with connect(gateway, "alice") as alice, connect(gateway, "bob") as bob:
        await alice.recv_type("welcome")
        await bob.recv_type("welcome")
        await alice.ws.send(json.dumps({"type": "claim", "req_id": "r", "lead_id": "x" * 70_000}))
        with pytest.raises(ConnectionClosed) as closed:
            await alice.recv(3)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        await publish(gateway, "L1", region="north")
        assert (await bob.recv_type("lead"))["lead_id"] == "L1"


async def test_resume_replays_exactly_the_missed_leads(gateway: Gateway) -> None:
    async with connect(gateway, "alice") as alice:
        await alice.recv_type("welcome")
        await publish(gateway, "L0", region="north")
        last_seen = (await alice.recv_type("lead"))["seq"]
    sent = [await publish(gateway, f"M{n}", region="north") for n in range(50)]
    async with connect(gateway, "alice", resume=last_seen) as alice:
        await alice.recv_type("welcome")
        leads = [await alice.recv() for _ in range(50)]
        assert [f["lead_id"] for f in leads] == [f"M{n}" for n in range(50)]
        assert [f["seq"] for f in leads] == [s["seq"] for s in sent]
        assert await alice.recv() == {"type": "resumed", "count": 50}
        await publish(gateway, "LIVE", region="north")
        assert (await alice.recv())["lead_id"] == "LIVE"
        await alice.nothing()


async def test_resume_after_trim_reports_gap(gateway: Gateway) -> None:
    first = await publish(gateway, "L0")
    for n in range(5):
        await publish(gateway, f"T{n}")
    await gateway.redis.xtrim(keys.events("north"), maxlen=2, approximate=False)
    async with connect(gateway, "alice", resume=first["seq"]) as alice:
        await alice.recv_type("welcome")
        gap = await alice.recv()
        assert gap["type"] == "gap" and gap["requested"] == first["seq"]
        assert [(await alice.recv())["lead_id"] for _ in range(2)] == ["T3", "T4"]
        assert (await alice.recv())["type"] == "resumed"


def _masked_text(payload: bytes) -> bytes:
    """A client text frame (clients must mask) for a raw socket."""
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    size = len(body)
    head = (bytes((0x81, 0x80 | size)) if size < 126
            else struct.pack("!BBH", 0x81, 0x80 | 126, size))
    return head + key + body


def _stalled_rep(host: str, port: int, token: str) -> socket.socket:
    """A rep that says hello over a raw socket and then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    sock.settimeout(5)
    assert sock.recv(1024).startswith(b"HTTP/1.1 101")
    sock.sendall(_masked_text(json.dumps({"type": "hello", "token": token}).encode()))
    return sock


async def test_stalled_reader_is_cut_off_while_others_keep_receiving(
        redis: Any, redis_url: str, tmp_path: Any) -> None:
    from aiohttp.test_utils import TestServer

    from server.app import create_app
    from server.web.appkeys import HUB, METRICS
    from tests.conftest import gateway_config

    app = create_app(gateway_config(tmp_path, "send_queue_frames = 8"), redis=redis_url)
    async with TestServer(app) as server:
        gw = Gateway(server, app, TokenAuthority(SECRET), redis)
        stalled = await asyncio.to_thread(_stalled_rep, server.host, server.port,
                                          gw.token("alice"))
        async with connect(gw, "bob") as bob:
            await bob.recv_type("welcome")
            closes = app[METRICS].disconnects.labels(str(CloseCode.SLOW_CONSUMER))
            for n in range(3000):  # 3 KB each: kernel buffers take ~3 MB before the queue fills
                await publish(gw, f"L{n}", region="north", attrs={"note": "x" * 3000})
                assert (await bob.recv_type("lead"))["lead_id"] == f"L{n}"
                assert all(c.queue.qsize() <= 8 for c in app[HUB].connections())
                if closes._value.get() == 1:
                    break
            assert closes._value.get() == 1
            await publish(gw, "AFTER", region="north")
            assert (await bob.recv_type("lead"))["lead_id"] == "AFTER"
        stalled.close()


async def test_window_candidates_get_one_final_result_each(redis: Any, redis_url: str,
                                                           tmp_path: Any) -> None:
    from aiohttp.test_utils import TestServer

    from server.app import create_app
    from tests.conftest import BASE_CONFIG, gateway_config

    body = BASE_CONFIG.replace('timezone = "Europe/Berlin"',
                               'timezone = "Europe/Berlin"\nmode = "window"\nwindow_ms = 1000')
    app = create_app(gateway_config(tmp_path, body=body), redis=redis_url)
    async with TestServer(app) as server:
        gw = Gateway(server, app, TokenAuthority(SECRET), redis)
        async with connect(gw, "alice") as alice, connect(gw, "bob") as bob:
            await alice.recv_type("welcome")
            await bob.recv_type("welcome")
            await publish(gw, "W1", region="north")
            finals = []
            for peer, req in ((alice, "a"), (bob, "b")):
                await peer.send({"type": "claim", "req_id": req, "lead_id": "W1"})
                pending = await peer.recv_type("claim_result")
                assert pending["result"] == "pending" and 0 < pending["retry_after_ms"] <= 1000
            for peer in (alice, bob):
                finals.append((await peer.recv_type("claim_result"))["result"])
            assert sorted(finals) == ["lost", "won"]
            await asyncio.sleep(0.5)
            for peer in (alice, bob):  # no second final result from the events stream
                with pytest.raises(TimeoutError):
                    await peer.recv_type("claim_result", timeout=0.2)
