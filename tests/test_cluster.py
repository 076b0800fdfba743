"""LeadGrab on a real Redis Cluster: found from a node's URL, every script run on the node of
its team's slot, the headline races and the gateway end to end (faults: test_cluster_faults)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
import pytest
from redis.asyncio import Redis, RedisCluster

from loadtest import target
from server.app import create_app
from server.cli import main
from server.contracts.reasons import Outcome
from server.store import backend, keys
from server.web.auth import Role
from tests.cluster import node_of, stored_on, url_of
from tests.conftest import gateway_config, running
from tests.helpers.http import get, publish
from tests.test_race import TEAM, max_open_race, one_winner_race, start, team_config
from tests.test_ws import connect as ws_connect

TWO_TEAMS = """
[teams.north]
timezone = "Europe/Berlin"
rules = { max_open = 2, max_daily = 5, cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }

[teams.south]
timezone = "Europe/Madrid"
rules = { max_open = 2, max_daily = 5, cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }

[[reps]]
id = "alice"
team = "north"

[[reps]]
id = "bob"
team = "north"

[[reps]]
id = "sam"
team = "south"
"""


async def test_a_node_url_gives_a_cluster_client_and_a_plain_url_a_plain_one(
        cluster_urls: list[str], redis_url: str) -> None:
    assert all([await backend.is_cluster(url) for url in cluster_urls])
    plain = await backend.connect(redis_url)
    try:
        assert isinstance(plain, Redis) and not await backend.is_cluster(redis_url)
    finally:
        await plain.aclose()


async def test_200_claimers_one_lead_one_winner_on_a_cluster(cluster: RedisCluster) -> None:
    """The headline race of test_race, on the node holding the team's slot."""
    await one_winner_race(cluster)  # type: ignore[arg-type]
    assert await stored_on(node_of(cluster, TEAM), keys.lead(TEAM, "L0"))


async def test_max_open_holds_under_concurrency_on_a_cluster(cluster: RedisCluster) -> None:
    await max_open_race(cluster, 1)  # type: ignore[arg-type]


async def test_scripts_are_loaded_again_after_every_node_forgot_them(
        cluster: RedisCluster) -> None:
    config = team_config(3, max_open=10)
    arbiter = await start(cluster, config, ["A", "B"])  # type: ignore[arg-type]
    assert (await arbiter.claim("r000", "A", "1")).result is Outcome.WON
    assert await cluster.script_flush()  # every primary
    assert (await arbiter.claim("r001", "B", "2")).result is Outcome.WON
    assert (await arbiter.claim("r002", "A", "3")).result is Outcome.LOST


async def test_cli_reload_reaches_a_cluster(cluster: RedisCluster, cluster_urls: list[str],
                                            tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(TWO_TEAMS)
    args = ["reload", "--config", str(config), "--redis-url", cluster_urls[2]]
    assert await asyncio.to_thread(main, args) == 0
    for team in ("north", "south"):
        assert await cluster.hget(keys.rules(team), "version") == "1"


async def test_two_servers_on_a_cluster_behave_as_one(cluster: RedisCluster,
                                                      cluster_urls: list[str],
                                                      tmp_path: Path) -> None:
    """Two teams on different nodes, two gateways: a lead published through one reaches its
    reps on both, exactly one claim wins, and reads, health and reload work."""
    assert node_of(cluster, "north") != node_of(cluster, "south")
    async with AsyncExitStack() as stack:
        gateways = [await stack.enter_async_context(running(
            create_app(gateway_config(tmp_path / f"gw{n}", body=TWO_TEAMS),
                       redis=cluster_urls[n]), cluster))  # type: ignore[arg-type]
            for n in range(2)]
        one, two = gateways
        alice = await stack.enter_async_context(ws_connect(one, "alice"))
        bob = await stack.enter_async_context(ws_connect(two, "bob"))
        sam = await stack.enter_async_context(ws_connect(two, "sam", token=two.token(
            "sam", team="south")))
        for peer in (alice, bob, sam):
            await peer.recv_type("welcome")
        await publish(one, "N1", team="north")
        await publish(two, "S1", team="south")
        assert (await alice.recv_type("lead"))["lead_id"] == "N1"
        assert (await bob.recv_type("lead"))["lead_id"] == "N1"
        assert (await sam.recv_type("lead"))["lead_id"] == "S1"
        await alice.send({"type": "claim", "req_id": "a", "lead_id": "N1"})
        await bob.send({"type": "claim", "req_id": "b", "lead_id": "N1"})
        await sam.send({"type": "claim", "req_id": "s", "lead_id": "S1"})
        got = [await p.collect("claim_result", "lead_taken") for p in (alice, bob, sam)]
        assert sorted(g["claim_result"]["result"] for g in got[:2]) == ["lost", "won"]
        assert got[2]["claim_result"]["result"] == "won"
        assert [g["lead_taken"]["lead_id"] for g in got] == ["N1", "N1", "S1"]
        await sam.nothing()  # nothing of the north team reaches the south team

        manager = one.role_token(Role.MANAGER)
        status, lead = await get(two, "/api/leads/N1?team=north", manager)
        assert status == 200 and lead["lead"]["state"] == "held"
        assert [e["action"] for e in lead["audit"]][:1] == ["publish"]
        assert (await get(one, "/healthz"))[0] == 200
        async with aiohttp.ClientSession() as http, http.post(
                one.url("/api/config/reload"),
                headers={"Authorization": f"Bearer {manager}"}) as resp:
            assert resp.status == 200, await resp.text()
    assert await cluster.hget(keys.lead("south", "S1"), "holder") == "sam"
    assert await stored_on(node_of(cluster, "south"), keys.lead("south", "S1"))


async def test_the_load_tester_talks_to_the_node_of_its_team(cluster: RedisCluster,
                                                            cluster_urls: list[str],
                                                            redis_url: str) -> None:
    """Its audit check and Redis ceilings use plain commands on the team's node."""
    for team in ("north", "south"):
        found = await target.team_node(cluster_urls[0], team)
        assert found == url_of(node_of(cluster, team), cluster_urls)
    assert await target.team_node(redis_url, "north") == redis_url
    assert await target.team_node(None, "north") is None


async def test_a_claim_window_settles_once_across_two_servers(cluster: RedisCluster,
                                                              cluster_urls: list[str],
                                                              tmp_path: Path) -> None:
    """Window mode on a cluster: both servers' timers race to settle; one final result each."""
    body = TWO_TEAMS.replace('timezone = "Europe/Madrid"',
                             'timezone = "Europe/Madrid"\nmode = "window"\nwindow_ms = 500')
    body += '\n[[reps]]\nid = "sue"\nteam = "south"\n'
    async with AsyncExitStack() as stack:
        one, two = [await stack.enter_async_context(running(
            create_app(gateway_config(tmp_path / f"gw{n}", body=body), redis=cluster_urls[n]),
            cluster)) for n in range(2)]  # type: ignore[arg-type]
        sam = await stack.enter_async_context(ws_connect(one, "sam", token=one.token(
            "sam", team="south")))
        sue = await stack.enter_async_context(ws_connect(two, "sue", token=two.token(
            "sue", team="south")))
        for peer in (sam, sue):
            await peer.recv_type("welcome")
        await publish(one, "W1", team="south")
        for peer, req in ((sam, "s"), (sue, "u")):
            await peer.recv_type("lead")
            await peer.send({"type": "claim", "req_id": req, "lead_id": "W1"})
            assert (await peer.recv_type("claim_result"))["result"] == "pending"
        finals = [(await p.recv_type("claim_result", timeout=5))["result"] for p in (sam, sue)]
        assert sorted(finals) == ["lost", "won"]
        for peer in (sam, sue):  # no second final result from the other server's timer
            with pytest.raises(TimeoutError):
                await peer.recv_type("claim_result", timeout=0.5)
    settled = [f for _, f in await cluster.xrange(keys.audit("south")) if f["action"] == "settle"]
    assert len(settled) == 1


async def test_no_handshake_errors_on_every_connection(redis: Redis, redis_url: str,
                                                       cluster_urls: list[str]) -> None:
    """redis-py sends CLIENT SETINFO and (over TCP) CLIENT MAINT_NOTIFICATIONS on every new
    connection; a Redis without them answers an error, counted in `errorstats`. The server's
    clients leave them out there."""
    for url in (redis_url, cluster_urls[0]):
        server = await backend.probe(url)
        direct = Redis.from_url(url)
        await direct.config_resetstat()
        client = await backend.connect(url)
        try:  # 20 at once: as many connections
            await asyncio.gather(*(client.exists("lg:{north}:rules") for _ in range(20)))
            errors = await direct.info("errorstats")
        finally:
            await client.aclose()
            await direct.aclose()
        assert server.version >= (8,) or errors == {}, (url, errors)
