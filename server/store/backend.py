"""The Redis client for a URL: one server, or a Redis Cluster, found out by asking the server.

Every key of a script carries its team's hash tag, so on a cluster each script runs on the
node that owns the team's slot; the client routes each command by its key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from redis import exceptions as rexc
from redis._parsers.commands import AsyncCommandsParser
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.cluster import ClusterNode
from redis.maint_notifications import MaintNotificationsConfig

Client = Redis | RedisCluster
# What the driver raises when Redis fails a command (cluster-level faults are not RedisErrors)
FAULTS = (rexc.RedisError, rexc.RedisClusterException, OSError)
# ... and of those, the ones that retrying later may mend: the server, or the node owning a
# slot, is unreachable, loading, failing over, or the slot is migrating
TEMPORARY = (rexc.ConnectionError, rexc.TimeoutError, rexc.BusyLoadingError,
             rexc.ClusterDownError, rexc.TryAgainError, rexc.RedisClusterException, OSError)
POOL_CONNECTIONS = 64
POOL_WAIT_S = 5
PROBE_TIMEOUT_S = 5
# redis-py's cluster pools fail ("Too many connections") rather than wait: a high bound per
# node, reached only by that many commands in flight (script calls share one per batch)
NODE_CONNECTIONS = 1024


class Server(NamedTuple):
    """What a URL's server said about itself."""

    cluster: bool
    version: tuple[int, ...]

    def client_options(self) -> dict[str, Any]:
        """Leave out the handshake commands this server does not know and would answer with
        an error (counted in `errorstats`) on every new connection: `CLIENT SETINFO` before
        Redis 7.2, `CLIENT MAINT_NOTIFICATIONS` (sent over TCP) before Redis 8."""
        options: dict[str, Any] = {}
        if self.version < (7, 2):
            options["driver_info"] = None
        if self.version < (8,):
            options["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
        return options


async def probe(url: str) -> Server:
    """Ask the server at `url` (`INFO`) whether it runs in cluster mode, and its version."""
    client = Redis.from_url(url, decode_responses=True, socket_connect_timeout=PROBE_TIMEOUT_S,
                            **Server(False, ()).client_options())  # the version is not known
    try:
        info: dict[str, Any] = await client.info()
    except rexc.ResponseError:  # INFO refused (renamed, or denied by an ACL): assume little
        return Server(False, ())
    finally:
        await client.aclose()
    version = tuple(int(part) for part in str(info.get("redis_version", "0")).split(".")
                    if part.isdigit())
    return Server(bool(info.get("cluster_enabled")), version)


async def is_cluster(url: str) -> bool:
    """Whether the server at `url` runs in cluster mode."""
    return not url.startswith("unix:") and (await probe(url)).cluster


async def connect(url: str, max_connections: int = POOL_CONNECTIONS) -> Client:
    """A client for `url`: a RedisCluster when the server is a cluster node (any node serves
    as the seed), else a Redis whose pool of `max_connections` waits for a free connection
    instead of failing under load. Closing the client closes its connections. Raises the
    driver's errors when the server cannot be reached."""
    server = await probe(url)
    if server.cluster:
        cluster = RedisCluster.from_url(url, decode_responses=True,
                                        max_connections=NODE_CONNECTIONS,
                                        **server.client_options())
        cluster.commands_parser = AnyNodeCommands(cluster)
        await cluster.initialize()
        return cluster
    pool = BlockingConnectionPool.from_url(url, decode_responses=True,
                                           max_connections=max_connections,
                                           timeout=POOL_WAIT_S, **server.client_options())
    return Redis.from_pool(pool)


class AnyNodeCommands(AsyncCommandsParser):
    """redis-py's key finder on a cluster, asking another primary when its node is down.

    redis-py asks one node (its default: the first primary listed) for COMMAND on every
    topology refresh and for COMMAND GETKEYS to route XREAD: with that node down, every
    team's commands failed, not only those of the teams it serves. Every node gives the
    same answers, so the next primary that answers is asked instead.
    """

    def __init__(self, cluster: RedisCluster) -> None:
        super().__init__()
        self.cluster = cluster

    async def initialize(self, node: ClusterNode | None = None) -> None:
        if node is not None:
            self.node = node
        await self._on_any_node(super().initialize)

    async def _get_moveable_keys(self, *args: Any) -> tuple[str, ...] | None:
        keys: tuple[str, ...] | None = await self._on_any_node(
            super()._get_moveable_keys, *args)
        return keys

    async def _on_any_node(self, ask: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """`ask` on the parser's node, else on each other primary until one answers."""
        first = self.node
        others = [n for n in self.cluster.get_primaries() if n.name != first.name]
        fault: Exception | None = None
        for node in (first, *others):
            self.node = node
            try:
                return await ask(*args)
            except (rexc.ConnectionError, rexc.TimeoutError) as exc:
                fault = exc
        self.node = first
        assert fault is not None
        raise fault
