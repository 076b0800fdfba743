"""The public pool: the snapshot a rep gets on connect, and the open-lead index behind it."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from server.fanout.deliveries import deliveries
from server.protocol import Codec
from server.store import keys
from server.web.appkeys import HUB
from tests.conftest import Gateway
from tests.helpers.gateways import gateway_with
from tests.helpers.http import publish
from tests.test_ws import CODECS, connect

LATER_MS = 60_000
BODY = f"""
[teams.north]
timezone = "Europe/Berlin"
release = {{ min_value = 1000, stages = [{{ tiers = ["gold"], after_ms = 0 }},
                                        {{ tiers = ["silver"], after_ms = {LATER_MS} }}] }}
rules = {{ max_open = 3, max_daily = 50, cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }}

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
regions = ["north"]
"""


floor = gateway_with("floor", BODY)


@pytest.mark.parametrize("codec", CODECS)
async def test_a_rep_connecting_late_gets_the_two_leads_it_may_see(floor: Gateway,
                                                                   codec: Codec) -> None:
    before = int(time.time() * 1000)
    await publish(floor, "EAST", value=100, region="east")  # ben covers north only
    await publish(floor, "LATER", value=5000, region="north")  # silver's stage opens in 60 s
    await publish(floor, "OPEN", value=100, region="north")
    async with connect(floor, "ben", codec) as ben:
        assert (await ben.recv())["type"] == "welcome"
        first, second = await ben.recv(), await ben.recv()
        await ben.nothing(0.3)
        assert [first["lead_id"], second["lead_id"]] == ["OPEN", "LATER"]  # newest first
        assert first["type"] == second["type"] == "lead"
        assert first["snapshot"] is second["snapshot"] is True
        assert "opens_ms" not in first
        assert before + LATER_MS <= second["opens_ms"] <= int(time.time() * 1000) + LATER_MS
        assert first["value"] == 100 and first["seq"]
        await ben.send({"type": "claim", "req_id": "b1", "lead_id": "OPEN"})
        assert (await ben.recv_type("claim_result"))["result"] == "won"


async def test_resume_gets_missed_entries_not_a_snapshot(floor: Gateway) -> None:
    seq = (await publish(floor, "OLD", value=100))["seq"]
    await publish(floor, "NEW", value=100)
    async with connect(floor, "ann", resume=seq) as ann:
        await ann.recv_type("welcome")
        lead = await ann.recv()
        assert lead["lead_id"] == "NEW" and "snapshot" not in lead
        assert (await ann.recv())["type"] == "resumed"


async def test_the_index_holds_exactly_the_open_leads(floor: Gateway, redis: Redis) -> None:
    for lead_id in ("A", "B", "C"):
        await publish(floor, lead_id, value=100)
    async with connect(floor, "ann") as ann:
        await ann.recv_type("welcome")
        await ann.send({"type": "claim", "req_id": "1", "lead_id": "A"})
        assert (await ann.recv_type("claim_result"))["result"] == "won"
        assert set(await redis.zrange(keys.pool("north"), 0, -1)) == {"B", "C"}
        await ann.send({"type": "release", "lead_id": "A"})
        assert (await ann.recv_type("action_result"))["ok"] is True
        assert set(await redis.zrange(keys.pool("north"), 0, -1)) == {"A", "B", "C"}


async def test_a_lead_in_the_snapshot_is_not_sent_again_when_the_tail_lags(
        floor: Gateway, redis: Redis) -> None:
    """The tail may hand the hub an entry after a connecting rep's snapshot already showed
    its lead (seen under load: the same lead twice on one socket); that late copy is dropped,
    and what comes after it still arrives."""
    seq = (await publish(floor, "LAG", value=100, region="north"))["seq"]
    async with connect(floor, "ben") as ben:
        await ben.recv_type("welcome")
        assert (await ben.recv())["lead_id"] == "LAG"
        [(_, fields)] = await redis.xrange(keys.events("north"), seq, seq)
        floor.app[HUB].deliver("north", seq, deliveries(fields, seq))
        await publish(floor, "NEXT", value=100, region="north")
        assert (await ben.recv())["lead_id"] == "NEXT"
        await ben.nothing(0.3)
