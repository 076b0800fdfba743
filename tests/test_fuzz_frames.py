"""Fuzzed WebSocket frames in both codecs, before and after hello: every one gets the
documented error frame or an answer, never a traceback or a broken socket; afterwards the
server still decides a contested claim with exactly one winner.

A bounded run (LEADGRAB_FUZZ_EXAMPLES, default 150 per codec); the long one against a
live server is `python -m tests.hostile frames --count 20000`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import msgpack
import pytest
import websockets
from hypothesis import strategies as st
from redis.asyncio import Redis

from server.app import create_app
from server.protocol import CloseCode, Codec
from tests.conftest import Gateway, gateway_config, running
from tests.frame_strategies import client_frames
from tests.fuzzing import draw
from tests.test_ws import connect, publish

REPS = [f"r{n}" for n in range(12)]
ROSTER = """
[teams.north]
timezone = "UTC"
rules = { max_open = 50, max_daily = 500, cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }
""" + "".join(f'\n[[reps]]\nid = "{rep}"\nteam = "north"\n' for rep in REPS)
ANSWERS = {"error", "claim_result", "action_result"}
DOCUMENTED_CLOSES = {1000, 1001, *CloseCode}


def _decode(data: str | bytes) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(data) if isinstance(data, str) \
        else msgpack.unpackb(data, raw=False)
    return frame


async def _answer(ws: Any, wanted: set[str]) -> dict[str, Any] | int:
    """The next frame of a wanted type, or the close code if the server closed instead."""
    try:
        async with asyncio.timeout(5):
            while True:
                frame = _decode(await ws.recv())
                if frame.get("type") in wanted:
                    return frame
    except websockets.ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else 1006


async def _fuzz(gw: Gateway, codec: Codec, frames: list[tuple[str | bytes, bool]]) -> list[Any]:
    answers: list[Any] = []
    peer_cm = connect(gw, "r0", codec)
    peer = await peer_cm.__aenter__()
    await peer.recv_type("welcome")
    try:
        for data, before_hello in frames:
            if before_hello:
                async with connect(gw, None, codec) as fresh:
                    await fresh.ws.send(data)
                    answers.append(await _answer(fresh.ws, ANSWERS | {"welcome"}))
                continue
            await peer.ws.send(data)
            answers.append(answer := await _answer(peer.ws, ANSWERS))
            if isinstance(answer, int):  # closed (e.g. 1009 for an oversized frame): reopen
                await peer_cm.__aexit__(None, None, None)
                peer_cm = connect(gw, "r0", codec)
                peer = await peer_cm.__aenter__()
                await peer.recv_type("welcome")
    finally:
        await peer_cm.__aexit__(None, None, None)
    return answers


@pytest.mark.timeout(180)
@pytest.mark.parametrize("codec", [Codec.JSON, Codec.MSGPACK])
async def test_fuzzed_frames_never_crash_and_claims_stay_exact(
        redis: Redis, redis_url: str, tmp_path: Path, codec: Codec,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    app = create_app(gateway_config(tmp_path, body=ROSTER), redis=redis_url)
    async with running(app, redis) as gw:
        await publish(gw, "L1")
        token = gw.token("r0")
        frames = draw(st.tuples(client_frames(token, codec), st.integers(0, 9).map(
            lambda n: n == 0)), at=15 + (codec is Codec.MSGPACK))
        answers = await _fuzz(gw, codec, frames)
        closes = [a for a in answers if isinstance(a, int)]
        assert set(closes) <= DOCUMENTED_CLOSES, closes
        assert all(isinstance(a, int) or a["type"] in ANSWERS | {"welcome"} for a in answers)
        errors = [a for a in answers if isinstance(a, dict) and a["type"] == "error"]
        assert all(e["code"] != "internal" for e in errors)
        assert "Traceback" not in caplog.text
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert await _one_winner(gw) == 1


async def _one_winner(gw: Gateway) -> int:
    """Every rep claims one fresh lead at once: how many won it."""
    await publish(gw, "RACE")

    async def claim(rep: str) -> str:
        async with connect(gw, rep) as peer:
            await peer.recv_type("welcome")
            await peer.send({"type": "claim", "req_id": f"race-{rep}", "lead_id": "RACE"})
            result: str = (await peer.recv_type("claim_result"))["result"]
            return result

    results = await asyncio.gather(*(claim(rep) for rep in REPS[1:]))
    assert set(results) <= {"won", "lost"}
    return results.count("won")
