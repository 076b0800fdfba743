"""Fan-out order: no rep is structurally first to receive a lead (fcfs would reward it)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import aiohttp
import websockets
from scipy.stats import chisquare
from websockets.asyncio.client import ClientConnection

from server.app import create_app
from server.web.auth import Role
from tests.conftest import BASE_CONFIG, Gateway, gateway_config, running

REPS, LEADS = 50, 200
TEAM = BASE_CONFIG.split("[[reps]]")[0]
ROSTER = "".join(f'[[reps]]\nid = "r{n:02}"\nteam = "north"\n\n' for n in range(REPS))


async def _read(rep: str, ws: ClientConnection, firsts: dict[str, tuple[float, str]],
                seen: Counter[str], all_in: asyncio.Event) -> None:
    """Record when this rep's socket handed over each lead; the earliest wins `firsts`."""
    async for data in ws:
        at = time.perf_counter()
        frame = json.loads(data)
        if frame["type"] != "lead":
            continue
        lead = frame["lead_id"]
        if lead not in firsts or at < firsts[lead][0]:
            firsts[lead] = (at, rep)
        seen[lead] += 1
        if seen[lead] == REPS:
            all_in.set()


async def _connect(gw: Gateway, rep: str) -> ClientConnection:
    ws = await websockets.connect(gw.ws_url)
    await ws.send(json.dumps({"type": "hello", "token": gw.token(rep)}))
    while json.loads(await ws.recv())["type"] != "welcome":
        pass
    return ws


async def test_no_rep_is_first_more_than_its_share(redis: object, redis_url: str,
                                                   tmp_path: Path) -> None:
    config = gateway_config(tmp_path, body=TEAM + ROSTER)
    async with running(create_app(config, redis=redis_url), redis) as gw:  # type: ignore[arg-type]
        reps = [f"r{n:02}" for n in range(REPS)]
        sockets = [await _connect(gw, rep) for rep in reps]
        firsts: dict[str, tuple[float, str]] = {}
        seen: Counter[str] = Counter()
        all_in = asyncio.Event()
        readers = [asyncio.create_task(_read(rep, ws, firsts, seen, all_in))
                   for rep, ws in zip(reps, sockets, strict=True)]
        headers = {"Authorization": f"Bearer {gw.role_token(Role.INTEGRATION)}"}
        try:
            async with aiohttp.ClientSession(headers=headers) as http:
                for n in range(LEADS):
                    all_in.clear()
                    async with http.post(gw.url("/api/leads"),
                                         json={"id": f"L{n}", "team": "north"}) as resp:
                        assert resp.status in (200, 201), await resp.text()
                    await asyncio.wait_for(all_in.wait(), 5)
        finally:
            for ws in sockets:
                await ws.close()
            await asyncio.gather(*readers, return_exceptions=True)
    first = Counter(rep for _, rep in firsts.values())
    counts = [first[rep] for rep in reps]
    assert sum(counts) == LEADS
    top, top_share = first.most_common(1)[0][0], max(counts) / LEADS
    assert top_share <= 0.10, f"{top} received {top_share:.0%} of the leads first"
    p_value = chisquare(counts).pvalue
    assert p_value >= 0.001, f"first receipts far from uniform: p = {p_value:.2g} {counts}"
