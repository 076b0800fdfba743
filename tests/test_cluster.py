"""LeadGrab on real Redis Clusters: found from a node's URL, every script run on the node of
its team's slot, the headline races, the gateway end to end, resharding, a node down and a
replica taking over."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode

from loadtest import target
from server import backend, keys
from server.app import create_app
from server.auth import Role
from server.cli import main
from server.reasons import Outcome
from tests.cluster import Cluster, move_slot, redis_cluster
from tests.conftest import Gateway, gateway_config, running
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


@pytest.fixture(scope="module")
async def nodes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    async with redis_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


@pytest.fixture
def cluster_urls(nodes: Cluster) -> list[str]:
    return nodes.urls


@pytest.fixture
async def cluster(cluster_urls: list[str]) -> AsyncIterator[RedisCluster]:
    """A cluster client (as the server builds it) on a flushed cluster."""
    client = await backend.connect(cluster_urls[1])
    assert isinstance(client, RedisCluster)
    await client.flushall()  # goes to every primary
    try:
        yield client
    finally:
        await client.aclose()


# After a node went away and came back, or a failover, redis-py may drop a replaced node
# with a connection still open (closed when collected). Tests that take nodes down collect
# it themselves, so that the warning is not charged to a later test.
REPLACED_NODE_LEAKS = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <(socket\.socket |function (ClusterNode|AbstractConnection"
    r"|StreamWriter|_SelectorTransport)\.__del__):pytest.PytestUnraisableExceptionWarning")


def node_of(cluster: RedisCluster, team: str) -> ClusterNode:
    return cluster.get_node_from_key(keys.events(team))


def url_of(node: ClusterNode, urls: list[str]) -> str:
    return next(url for url in urls if f":{node.port}/" in url)


async def stored_on(node: ClusterNode, key: str) -> bool:
    """Whether the key physically lives on that node (asked directly, no redirection)."""
    direct = Redis(host=node.host, port=node.port)
    try:
        return bool(await direct.exists(key))
    finally:
        await direct.aclose()


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


async def publish(gw: Gateway, team: str, lead_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {gw.role_token(Role.INTEGRATION)}"}
    async with aiohttp.ClientSession() as http, http.post(
            gw.url("/api/leads"), json={"id": lead_id, "team": team}, headers=headers) as resp:
        assert resp.status in (200, 201), await resp.text()
        body: dict[str, Any] = await resp.json()
        return body


async def get(gw: Gateway, path: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http, http.get(gw.url(path), headers=headers) as resp:
        return resp.status, await (resp.json() if resp.content_type.endswith("json")
                                   else resp.text())


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
        await publish(one, "north", "N1")
        await publish(two, "south", "S1")
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


async def test_a_team_moved_to_another_node_keeps_working(cluster: RedisCluster,
                                                          cluster_urls: list[str],
                                                          tmp_path: Path) -> None:
    """Reshard the north team's slot, keys and all, while a gateway runs: its script batches,
    its stream tail and its reads follow the MOVED answers to the new node."""
    before = node_of(cluster, "north")
    after = next(n for n in cluster.get_primaries() if n != before)
    slot, home, away = (cluster.keyslot(keys.events("north")), url_of(before, cluster_urls),
                        url_of(after, cluster_urls))
    app = create_app(gateway_config(tmp_path, body=TWO_TEAMS), redis=cluster_urls[0])
    moved = False
    try:
        async with running(app, cluster) as gw, ws_connect(gw, "alice") as alice:  # type: ignore[arg-type]
            await alice.recv_type("welcome")
            await publish(gw, "north", "N1")
            assert (await alice.recv_type("lead"))["lead_id"] == "N1"
            await move_slot(cluster_urls, slot, home, away)
            moved = True
            assert await stored_on(after, keys.lead("north", "N1"))
            await publish(gw, "north", "N2")
            assert (await alice.recv_type("lead", timeout=6))["lead_id"] == "N2"
            for lead in ("N1", "N2"):
                await alice.send({"type": "claim", "req_id": lead, "lead_id": lead})
                assert (await alice.recv_type("claim_result"))["result"] == "won"
            manager = gw.role_token(Role.MANAGER)
            status, body = await get(gw, "/api/leads/N2?team=north", manager)
            assert status == 200 and body["lead"]["holder"] == "alice"
        assert await stored_on(after, keys.audit("north"))
    finally:  # the other tests expect each team where the cluster was formed
        if moved:
            await move_slot(cluster_urls, slot, away, home)


async def test_the_load_tester_talks_to_the_node_of_its_team(cluster: RedisCluster,
                                                            cluster_urls: list[str],
                                                            redis_url: str) -> None:
    """Its audit check and Redis ceilings use plain commands on the team's node."""
    for team in ("north", "south"):
        found = await target.team_node(cluster_urls[0], team)
        assert found == url_of(node_of(cluster, team), cluster_urls)
    assert await target.team_node(redis_url, "north") == redis_url
    assert await target.team_node(None, "north") is None


@REPLACED_NODE_LEAKS
async def test_a_node_down_takes_only_its_teams_down_and_they_come_back(
        nodes: Cluster, cluster: RedisCluster, tmp_path: Path) -> None:
    """The node holding the north team's slot stops: north's claims and publishes fail with
    the temporary `unavailable` error and change nothing, the south team (another node) goes
    on, and once the node is back north works again, its earlier state intact."""
    down = nodes.urls.index(url_of(node_of(cluster, "north"), nodes.urls))
    assert url_of(node_of(cluster, "south"), nodes.urls) != nodes.urls[down]
    seed = nodes.urls[(down + 1) % len(nodes.urls)]
    app = create_app(gateway_config(tmp_path, body=TWO_TEAMS), redis=seed)
    async with running(app, cluster) as gw, ws_connect(gw, "bob") as bob:  # type: ignore[arg-type]
        await bob.recv_type("welcome")
        await publish(gw, "north", "N1")
        try:
            await nodes.servers[down].stop()
            await bob.send({"type": "claim", "req_id": "b1", "lead_id": "N1"})
            error = await bob.recv_type("error", timeout=15)
            assert (error["code"], error["temporary"], error["req_id"]) == (
                "unavailable", True, "b1")
            status, body = await post(gw, "/api/leads", {"id": "N2", "team": "north"})
            assert (status, body["error"]["code"]) == (503, "unavailable")
            assert (await post(gw, "/api/leads", {"id": "S1", "team": "south"}))[0] == 201
            assert (await get(gw, "/healthz"))[0] == 503  # a team is unreachable
            # Redis's default: a cluster missing slots refuses everything (CLUSTERDOWN)
            await set_full_coverage(nodes, "yes")
            await nodes.wait_state("fail", without=down)
            status, body = await post(gw, "/api/leads", {"id": "S2", "team": "south"})
            assert status == 503 and body["error"]["code"] == "unavailable", (status, body)
            assert (await get(gw, "/healthz"))[0] == 503
        finally:
            await nodes.servers[down].start()  # same port and nodes.conf: its slots return
            await nodes.wait_ok()
            await set_full_coverage(nodes, "no")
        async with asyncio.timeout(15):
            while (result := await claim_over_http(gw, "bob", "N1")) is None:
                await asyncio.sleep(0.2)
        assert result == "won"
        assert (await get(gw, "/api/leads/N2?team=north", gw.role_token(Role.MANAGER)))[0] == 404
    claims = [f for _, f in await cluster.xrange(keys.audit("north")) if f["action"] == "claim"]
    assert [(c["rep"], c["result"]) for c in claims] == [("bob", "won")]
    gc.collect()  # see REPLACED_NODE_LEAKS


async def set_full_coverage(nodes: Cluster, value: str) -> None:
    for server in nodes.servers:
        if server.pid is not None:
            client = Redis.from_url(server.url)
            try:
                await client.config_set("cluster-require-full-coverage", value)
            finally:
                await client.aclose()


async def post(gw: Gateway, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {gw.role_token(Role.INTEGRATION)}"}
    async with aiohttp.ClientSession() as http, http.post(gw.url(path), json=body,
                                                          headers=headers) as resp:
        return resp.status, await resp.json()


async def claim_over_http(gw: Gateway, rep: str, lead: str) -> str | None:
    """The claim's result, or None while Redis answers `unavailable`."""
    headers = {"Authorization": f"Bearer {gw.token(rep)}"}
    async with aiohttp.ClientSession() as http, http.post(
            gw.url(f"/api/leads/{lead}/claim"), json={"req_id": "again"},
            headers=headers) as resp:
        body = await resp.json()
        if resp.status == 503:
            return None
        return str(body["result"])


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
        await publish(one, "south", "W1")
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


@pytest.fixture(scope="module")
async def ha_nodes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    """Three primaries, each with a replica (urls[3 + n] replicates urls[n])."""
    async with redis_cluster(tmp_path_factory.mktemp("ha"), replicas=1) as started:
        yield started


@REPLACED_NODE_LEAKS
async def test_a_replica_takes_over_and_the_floor_goes_on(ha_nodes: Cluster,
                                                          tmp_path: Path) -> None:
    """The primary holding the north team's slot dies: claims answer `unavailable` until its
    replica is promoted, then win; the stream tail follows; nothing is decided twice."""
    client = await backend.connect(ha_nodes.urls[0])
    assert isinstance(client, RedisCluster)
    await client.flushall()
    primary = node_of(client, "north")
    down = ha_nodes.urls.index(url_of(primary, ha_nodes.urls))
    app = create_app(gateway_config(tmp_path, body=TWO_TEAMS),
                     redis=ha_nodes.urls[(down + 1) % 3])
    try:
        async with running(app, client) as gw, ws_connect(gw, "bob") as bob:  # type: ignore[arg-type]
            await bob.recv_type("welcome")
            await publish(gw, "north", "N1")
            assert (await bob.recv_type("lead"))["lead_id"] == "N1"
            direct = Redis(host=primary.host, port=primary.port)
            assert await direct.execute_command("WAIT", 1, 2000) == 1  # N1 is on the replica
            await direct.aclose()
            await ha_nodes.servers[down].stop()
            async with asyncio.timeout(30):  # node timeout 2 s, then the election
                while (result := await claim_over_http(gw, "bob", "N1")) is None:
                    await asyncio.sleep(0.2)
            assert result == "won"
            await publish(gw, "north", "N2")  # the next lead bob sees: no N1 again
            assert (await bob.recv_type("lead", timeout=10))["lead_id"] == "N2"
        await client.aclose()
        client = await backend.connect(ha_nodes.urls[(down + 1) % 3])
        assert isinstance(client, RedisCluster)
        assert url_of(node_of(client, "north"), ha_nodes.urls) == ha_nodes.urls[down + 3]
        claims = [f for _, f in await client.xrange(keys.audit("north"))
                  if f["action"] == "claim"]
        assert [(c["rep"], c["lead"], c["result"]) for c in claims] == [("bob", "N1", "won")]
    finally:
        await ha_nodes.servers[down].start()  # rejoins as a replica of its former replica
        await ha_nodes.wait_ok()
        await client.aclose()
        gc.collect()  # see REPLACED_NODE_LEAKS


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
