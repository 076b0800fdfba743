"""The Python client over real sockets: claims, both codecs, reconnect and resume, refusals."""

from __future__ import annotations

import asyncio
import io
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from clients.client import LeadGrabClient, SessionClosed
from clients.rep import RepSession, describe_claim
from server.app import create_app
from server.protocol import CloseCode, Codec, Frame
from server.web.appkeys import SOCKETS
from server.web.auth import Role, TokenAuthority
from tests.conftest import SECRET, Gateway, gateway_config
from tests.helpers.http import publish

CODECS = [Codec.JSON, Codec.MSGPACK]
FAST: dict[str, Any] = {"backoff_base_s": 0.02, "backoff_cap_s": 0.2}


class Feed:
    """One consumer of a client's frames, with timeouts."""

    def __init__(self, client: LeadGrabClient) -> None:
        self.frames = client.frames()
        self.welcomes = 0

    async def next(self, kind: str, timeout: float = 5.0) -> Frame:
        async with asyncio.timeout(timeout):
            async for frame in self.frames:
                self.welcomes += frame["type"] == "welcome"
                if frame["type"] == kind:
                    return frame
        raise AssertionError(f"frames ended before a {kind}")

    async def leads(self, count: int, timeout: float = 5.0) -> list[str]:
        return [str((await self.next("lead", timeout))["lead_id"]) for _ in range(count)]


def client(gw: Gateway, rep: str, **kwargs: Any) -> LeadGrabClient:
    return LeadGrabClient(gw.ws_url, gw.token(rep), **{**FAST, **kwargs})


@asynccontextmanager
async def serving(config_dir: Path, redis_url: str, port: int = 0) -> AsyncIterator[TestServer]:
    """A second server instance on the same Redis (optionally on a fixed port)."""
    app = create_app(gateway_config(config_dir), redis=redis_url)
    server = TestServer(app, port=port)
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


@pytest.mark.parametrize("codec", CODECS)
async def test_one_wins_the_other_loses(gateway: Gateway, codec: Codec) -> None:
    async with client(gateway, "alice", codec=codec) as alice, \
            client(gateway, "bob", codec=codec) as bob:
        assert alice.welcome is not None and alice.welcome["rep"] == "alice"
        alice_feed, bob_feed = Feed(alice), Feed(bob)
        token = gateway.role_token(Role.INTEGRATION)
        await publish(gateway, "L1", token, region="north", value=500, skills=[])
        lead = await alice_feed.next("lead")
        assert (lead["lead_id"], lead["value"], lead["region"]) == ("L1", 500, "north")
        assert (await bob_feed.next("lead"))["seq"] == lead["seq"]
        won = await asyncio.wait_for(alice.claim("L1"), 5)
        lost = await asyncio.wait_for(bob.claim("L1"), 5)
        assert (won["result"], lost["result"]) == ("won", "lost")
        assert (await bob_feed.next("lead_taken"))["lead_id"] == "L1"
        assert alice.last_seq == bob.last_seq != lead["seq"]


async def test_claim_retry_is_idempotent_and_actions_answer(gateway: Gateway) -> None:
    async with client(gateway, "alice") as alice:
        await publish(gateway, "L1", region="north")
        first = await asyncio.wait_for(alice.claim("L1", req_id="r-1"), 5)
        again = await asyncio.wait_for(alice.claim("L1", req_id="r-1"), 5)
        assert first == again and first["result"] == "won"
        closed = await asyncio.wait_for(alice.close_lead("L1", "won"), 5)
        assert closed["ok"] is True
        refused = await asyncio.wait_for(alice.release("L1"), 5)
        assert (refused["ok"], refused["reason"]) == (False, "closed")


@pytest.mark.parametrize("seen_before", [0, 1])
async def test_reconnect_resumes_exactly_once_in_order(
    gateway: Gateway, redis_url: str, tmp_path: Path, seen_before: int,
) -> None:
    token = gateway.role_token(Role.INTEGRATION)
    async with serving(tmp_path, redis_url) as first:
        port = first.port
        assert port is not None
        alice = LeadGrabClient(str(first.make_url("/ws")).replace("http", "ws", 1),
                               gateway.token("alice"), **FAST)
        feed = Feed(alice)
        await asyncio.wait_for(alice.connect(), 5)
        for n in range(seen_before):
            await publish(gateway, f"B{n}", token, region="north")
        before = await feed.leads(seen_before)
    # The instance is gone: publish through another one while the client retries.
    away = [f"A{n}" for n in range(3)]
    for lead_id in away:
        await publish(gateway, lead_id, token, region="north")
    claim = asyncio.create_task(alice.claim("A1", req_id="while-away"))
    async with serving(tmp_path, redis_url, port):
        assert before + await feed.leads(3) == [f"B{n}" for n in range(seen_before)] + away
        assert (await asyncio.wait_for(claim, 5))["result"] == "won"
        await publish(gateway, "LIVE", token, region="north")
        assert await feed.leads(1) == ["LIVE"]
        await alice.aclose()


async def test_server_side_close_resumes(gateway: Gateway) -> None:
    async with client(gateway, "bob") as bob:
        feed = Feed(bob)
        for sock in [*gateway.app[SOCKETS]]:
            await sock.close(code=CloseCode.SERVER_RESTART, message=b"restarting")
        await publish(gateway, "L1", region="north")
        assert await feed.leads(1) == ["L1"]
        assert feed.welcomes == 2


async def test_full_queue_drops_then_replays_in_order(gateway: Gateway) -> None:
    async with client(gateway, "bob", max_frames=3) as bob:
        feed = Feed(bob)
        await feed.next("welcome")
        ids = [f"L{n}" for n in range(8)]
        for lead_id in ids:
            await publish(gateway, lead_id, region="north")
        await asyncio.sleep(0.2)  # let the queue overflow before anything is read
        assert await feed.leads(len(ids)) == ids
        assert feed.welcomes == 2  # the dropped frames came back through a resume


async def test_refused_token_raises_instead_of_looping(gateway: Gateway) -> None:
    bad = LeadGrabClient(gateway.ws_url, "not-a-token", **FAST)
    with pytest.raises(SessionClosed) as refused:
        await asyncio.wait_for(bad.connect(), 5)
    assert refused.value.code == CloseCode.AUTH_FAILED
    assert "JWT" in str(refused.value)
    with pytest.raises(SessionClosed):
        await asyncio.wait_for(Feed(bad).next("lead"), 5)
    with pytest.raises(SessionClosed):
        await bad.claim("L1")
    await bad.aclose()


def test_backoff_is_full_jitter_and_capped() -> None:
    c = LeadGrabClient("ws://localhost:1/ws", "t", backoff_base_s=0.5, backoff_cap_s=4.0)
    for attempt in range(12):
        ceiling = min(4.0, 0.5 * 2**attempt)
        assert all(0 <= c.backoff_s(attempt) <= ceiling for _ in range(50))
    assert max(c.backoff_s(1000) for _ in range(200)) > 2.0


async def test_rep_session_claims_newest_on_enter(gateway: Gateway) -> None:
    out = io.StringIO()
    async with client(gateway, "bob") as bob:
        session, lines = RepSession(bob, out=out), asyncio.Queue[str | None]()
        running = asyncio.create_task(session.run(lines))
        token = gateway.role_token(Role.INTEGRATION)
        for lead_id in ("OLD", "NEW"):
            await publish(gateway, lead_id, token, region="north", value=100, priority=3)
        async with asyncio.timeout(5):
            while "NEW" not in session.open:
                await asyncio.sleep(0.01)
        lines.put_nowait("\n")
        async with asyncio.timeout(5):
            while "claim NEW: won" not in out.getvalue():
                await asyncio.sleep(0.01)
        await bob.aclose()
        await asyncio.wait_for(running, 5)
    assert "lead NEW  value=100  region=north  skills=-  priority=3" in out.getvalue()


def test_describe_claim_shows_reason_and_retry() -> None:
    frame = {"type": "claim_result", "req_id": "1", "lead_id": "L9", "result": "rejected",
             "reason": "cooldown", "retry_after_ms": 4500}
    assert describe_claim(frame) == "claim L9: rejected (cooldown), retry in 4500 ms"


def short_lived(rep: str, valid_for_s: float) -> str:
    """A rep token the server accepts for `valid_for_s` to `valid_for_s` + 1 more seconds.

    The token's exp is whole seconds and the server's leeway 5 s; issuing at a whole second
    keeps the truncation from cutting the validity short (a CI run once saw it expire before
    the welcome).
    """
    issued = math.ceil(time.time() + valid_for_s) - 5 - 6
    return TokenAuthority(SECRET, clock=lambda: issued).mint(Role.REP, rep, team="north",
                                                             ttl_s=6)


async def test_a_token_source_renews_an_expired_session_and_resumes(gateway: Gateway) -> None:
    tokens = [short_lived("alice", 2.0), gateway.token("alice")]
    asked: list[str] = []

    async def next_token() -> str:
        asked.append(tokens[min(len(asked), 1)])
        return asked[-1]

    async with LeadGrabClient(gateway.ws_url, next_token, **FAST) as alice:
        feed = Feed(alice)
        await feed.next("welcome")
        await feed.next("welcome", timeout=8)  # the first token expired: closed with 4001, renewed
        await publish(gateway, "L1", region="north")
        assert (await feed.next("lead"))["lead_id"] == "L1"
        assert asked == tokens and feed.welcomes == 2
        assert (await asyncio.wait_for(alice.claim("L1"), 5))["result"] == "won"


async def test_a_plain_token_that_expires_ends_the_session(gateway: Gateway) -> None:
    async with LeadGrabClient(gateway.ws_url, short_lived("alice", 2.0), **FAST) as alice:
        feed = Feed(alice)
        await feed.next("welcome")
        with pytest.raises(SessionClosed) as ended:
            await feed.next("lead", timeout=8)
    assert ended.value.code == CloseCode.AUTH_FAILED
