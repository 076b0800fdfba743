"""The Redis client for a URL: one server, or a Redis Cluster, found out by asking the server.

Every key of a script carries its team's hash tag, so on a cluster each script runs on the
node that owns the team's slot; the client routes each command by its key.
"""

from __future__ import annotations

from typing import Any

from redis import exceptions as rexc
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster

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


async def is_cluster(url: str) -> bool:
    """Whether the server at `url` runs in cluster mode (`INFO cluster`)."""
    if url.startswith("unix:"):
        return False  # a cluster's nodes talk over TCP
    probe = Redis.from_url(url, decode_responses=True, socket_connect_timeout=PROBE_TIMEOUT_S)
    try:
        info: dict[str, Any] = await probe.info("cluster")
    except rexc.ResponseError:  # INFO refused (renamed, or denied by an ACL): not a cluster
        return False
    finally:
        await probe.aclose()
    return bool(info.get("cluster_enabled"))


async def connect(url: str, max_connections: int = POOL_CONNECTIONS) -> Client:
    """A client for `url`: a RedisCluster when the server is a cluster node (any node serves
    as the seed), else a Redis whose pool of `max_connections` waits for a free connection
    instead of failing under load. Closing the client closes its connections. Raises the
    driver's errors when the server cannot be reached."""
    if await is_cluster(url):
        cluster = RedisCluster.from_url(url, decode_responses=True,
                                        max_connections=NODE_CONNECTIONS)
        await cluster.initialize()
        return cluster
    pool = BlockingConnectionPool.from_url(url, decode_responses=True,
                                           max_connections=max_connections,
                                           timeout=POOL_WAIT_S)
    return Redis.from_pool(pool)
