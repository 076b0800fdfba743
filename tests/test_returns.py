"""Leads still open when a rep comes back (on shift, resuming, reconnecting after either) are
offered to them: only those they may claim, newest first, at most `returns.offer_max`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from server.app import create_app
from server.cli import main
from server.config import ConfigError, parse_config
from server.floor.arbiter import Arbiter
from server.store import keys
from server.store.store import Store
from server.web.appkeys import ARBITER
from tests.clock import ManualClock
from tests.conftest import Gateway, gateway_config, running
from tests.helpers import arbiter_for, publish
from tests.test_ws import Peer, connect

RULES = ("max_open = 2, max_daily = 50, cooldown_after_claim_ms = 0, "
         "penalty_cooldown_ms = 0, reclaim_lockout_ms = 60000")


def floor(shift: str) -> str:
    """ann works `shift` in region north with no skills; ben has no shifts."""
    return (f'[teams.north]\ntimezone = "UTC"\nrules = {{ {RULES} }}\n'
            "returns = { offer_max = 3 }\n\n"
            f'[[reps]]\nid = "ann"\nteam = "north"\nregions = ["north"]\n'
            f'rules = {{ shifts = ["{shift}"] }}\n\n'
            '[[reps]]\nid = "ben"\nteam = "north"\n')


def shift_ahead(now_ms: int) -> tuple[str, int]:
    """A daily shift starting two to three minutes after `now_ms` (UTC), and its start: the
    rep is off shift by this host's clock (live offers) and the scripts' until it starts."""
    start_ms = (now_ms // 60_000 + 3) * 60_000
    start = datetime.fromtimestamp(start_ms / 1000, UTC)
    end = datetime.fromtimestamp((start_ms + 8 * 3_600_000) / 1000, UTC)
    return f"daily {start:%H:%M}-{end:%H:%M}", start_ms


@asynccontextmanager
async def gateway(redis: Redis, redis_url: str, tmp_path: Path,
                  clock: ManualClock) -> AsyncIterator[tuple[Gateway, int]]:
    """A server on the scripts' clock `clock`, set to this host's time; and ann's shift start."""
    clock.now_ms = int(time.time() * 1000)
    shift, start_ms = shift_ahead(clock.now_ms)
    app = create_app(gateway_config(tmp_path, body=floor(shift)), redis=redis_url, clock=clock)
    async with running(app, redis) as gw:
        yield gw, start_ms


async def open_leads(arbiter: Arbiter, clock: ManualClock, holder: str | None = "ben") -> None:
    """L0..L3 ann may claim (oldest first), then leads she may not: another region, a skill
    she lacks, and one `holder` takes."""
    for lead_id, fields in [("L0", {}), ("L1", {}), ("L2", {}), ("L3", {}),
                            ("S1", {"region": "south"}), ("K1", {"skills": ["solar"]}),
                            ("H1", {})]:
        await publish(arbiter, lead_id, **{"region": "north", **fields})
        clock.advance(1)
    if holder:
        assert (await arbiter.claim(holder, "H1", "b")).result == "won"


async def leads(peer: Peer, count: int) -> list[dict[str, Any]]:
    return [await peer.recv_type("lead") for _ in range(count)]


async def no_leads(peer: Peer, wait_s: float = 1.5) -> None:
    """No `lead` frame for `wait_s` (other frames, e.g. lead_taken, may come)."""
    deadline = time.monotonic() + wait_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await peer.recv(left)
        except TimeoutError:
            return
        assert frame["type"] != "lead", frame


async def test_open_leads_are_offered_when_the_shift_starts(
        redis: Redis, redis_url: str, tmp_path: Path, clock: ManualClock) -> None:
    async with gateway(redis, redis_url, tmp_path, clock) as (gw, start_ms), \
            connect(gw, "ann") as ann:
        await ann.recv_type("welcome")
        await open_leads(gw.app[ARBITER], clock)
        await no_leads(ann)  # off shift: no offers
        clock.now_ms = start_ms + 1000
        got = await leads(ann, 3)
        assert [f["lead_id"] for f in got] == ["L3", "L2", "L1"]
        assert all(f["snapshot"] for f in got)
        await no_leads(ann)  # at most offer_max, once


async def test_open_leads_are_offered_when_a_pause_ends(
        redis: Redis, redis_url: str, tmp_path: Path, clock: ManualClock) -> None:
    async with gateway(redis, redis_url, tmp_path, clock) as (gw, _), \
            connect(gw, "ben") as ben:
        arbiter = gw.app[ARBITER]
        await ben.recv_type("welcome")
        await publish(arbiter, "P0", region="north")
        assert (await ben.recv_type("lead"))["lead_id"] == "P0"
        clock.advance(5000)
        assert (await arbiter.pause("ben", True, "ben")).ok
        await ben.recv_type("paused")
        clock.advance(5000)
        await open_leads(arbiter, clock, holder=None)
        await no_leads(ben, 0.5)
        clock.advance(5000)
        assert (await arbiter.pause("ben", False, "ben")).ok
        got = await leads(ben, 3)
        # newest first; not K1 (a skill ben lacks), not P0 (offered before the pause)
        assert [f["lead_id"] for f in got] == ["H1", "S1", "L3"]
        await no_leads(ben)


async def test_a_reconnect_after_the_shift_started_gets_them_once(
        redis: Redis, redis_url: str, tmp_path: Path, clock: ManualClock) -> None:
    async with gateway(redis, redis_url, tmp_path, clock) as (gw, start_ms):
        arbiter = gw.app[ARBITER]
        async with connect(gw, "ann") as ann:
            await ann.recv_type("welcome")
            await publish(arbiter, "E0", region="north")
            seen = (await redis.xrevrange(keys.events("north"), count=1))[0][0]
        await open_leads(arbiter, clock)  # while she is away
        await asyncio.sleep(0.5)
        # her shift started 1 ms ago, after the last entry she saw (0.5 s ago)
        clock.now_ms = start_ms + 1
        async with connect(gw, "ann", resume=seen) as ann:
            await ann.recv_type("resumed")
            assert [f["lead_id"] for f in await leads(ann, 3)] == ["L3", "L2", "L1"]
            await no_leads(ann)
        clock.advance(60_000)
        head = (await redis.xrevrange(keys.events("north"), count=1))[0][0]
        async with connect(gw, "ann", resume=head) as ann:
            await ann.recv_type("resumed")
            await no_leads(ann)  # on shift already when she saw `head`: nothing owed


async def test_only_leads_the_rep_may_claim(store: Store, clock: ManualClock) -> None:
    arbiter = await arbiter_for(store, floor("daily 00:00-23:59"))
    clock.now_ms = 1_799_053_200_000  # 09:00 UTC: on shift
    for lead_id in ("L1", "L2", "L3", "L4"):
        await publish(arbiter, lead_id, region="north")
    await publish(arbiter, "S1", region="south")
    assert await store.claimable("north", "ann", ["L1", "S1", "nope"]) == ["L1"]
    assert (await arbiter.claim("ann", "L1", "a")).result == "won"
    assert (await arbiter.release("ann", "L1")).ok  # locked out of L1 for a minute
    assert await store.claimable("north", "ann", ["L1", "L2"]) == ["L2"]
    await arbiter.claim("ann", "L2", "b")
    await arbiter.claim("ann", "L3", "c")
    assert await store.claimable("north", "ann", ["L4"]) == []  # max_open = 2
    assert await store.claimable("north", "ben", ["L4", "S1"]) == ["L4", "S1"]
    await arbiter.pause("ben", True, "ben")
    assert await store.claimable("north", "ben", ["L4"]) == []


def test_returns_config_is_validated_and_shown(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(floor("daily 09:00-17:00").replace(
        "returns = { offer_max = 3 }", "returns = { offer_max = 3, catchup_after_ms = 5 }"))
    assert main(["check-config", str(path)]) == 0
    assert ("team north returns: offer_max=3 catchup_after_ms=5 catchup_for_ms=86400000"
            in capsys.readouterr().out)
    for bad, key in [("offer_max = -1", "offer_max"), ("offer_max = 1001", "offer_max"),
                     ("catchup_for_ms = 0", "catchup_for_ms"),
                     ("catchup_aftr_ms = 1", "catchup_aftr_ms")]:
        with pytest.raises(ConfigError, match=f"teams.north.returns.{key}"):
            parse_config(floor("daily 09:00-17:00").replace("offer_max = 3", bad))


async def test_returns_config_reloads_into_the_team_rules(store: Store) -> None:
    arbiter = await arbiter_for(store, floor("daily 09:00-17:00"))
    assert arbiter.team("north").returns.offer_max == 3
    changed = parse_config(floor("daily 09:00-17:00").replace("offer_max = 3", "offer_max = 7"))
    loads = await arbiter.apply_rules(changed)
    assert loads[0].changed and arbiter.team("north").returns.offer_max == 7
