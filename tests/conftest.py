"""Shared fixtures: one real Redis per session (embedded or REDIS_URL), flushed per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis, RedisCluster

from server.app import create_app
from server.config import Config, parse_config
from server.store import backend
from server.store.embedded import EmbeddedRedis
from server.store.keys import Retention
from server.store.store import Store
from server.web.auth import Role, TokenAuthority
from tests.clock import ManualClock
from tests.cluster import Cluster, redis_cluster

ROOT = Path(__file__).resolve().parent.parent
LIMITS = Retention(events_maxlen=10_000, audit_maxlen=1_000_000, request_ttl_ms=86_400_000)

BASE_CONFIG = """
[server]
stream_maxlen = 10000

[teams.north]
timezone = "Europe/Berlin"
rules = { max_open = 2, max_daily = 5, cooldown_after_claim_ms = 1000, penalty_cooldown_ms = 60000 }

[tiers.gold]
rules = { max_open = 3 }

[[reps]]
id = "alice"
team = "north"
tier = "gold"
regions = ["north", "east"]
skills = ["solar"]

[[reps]]
id = "bob"
team = "north"
regions = ["north"]

[[reps]]
id = "carol"
team = "north"
active = false
"""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With LEADGRAB_REDIS_FACING set (CI's second pass, on another Redis version), keep
    only the tests that run on the session's Redis or the cluster nodes: the others would
    repeat the first pass exactly (they use no Redis, or start their own embedded one)."""
    if not os.environ.get("LEADGRAB_REDIS_FACING"):
        return
    facing = {"redis_url", "nodes"}
    keep = [item for item in items if facing & set(getattr(item, "fixturenames", ()))]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep


@pytest.fixture(scope="session")
async def redis_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """REDIS_URL when set (e.g. Debian's Redis 7 in CI), else a private embedded redis-server."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    async with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client on a flushed database."""
    client = Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
async def nodes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    """A three-node Redis Cluster for one test module (tests/cluster.py)."""
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


@pytest.fixture
def clock() -> ManualClock:
    """A controlled clock, starting at 2027-01-04 09:00 UTC."""
    return ManualClock(now_ms=1_799_053_200_000)


@pytest.fixture
def store(redis: Redis, clock: ManualClock) -> Store:
    return Store(redis, LIMITS, clock)


@pytest.fixture
def config() -> Config:
    return parse_config(BASE_CONFIG)


SECRET = "test-secret-0123456789-abcdefghijklmnop"


@dataclass
class Gateway:
    """A running in-process server on real sockets, and helpers to reach it."""

    server: TestServer
    app: web.Application
    authority: TokenAuthority
    redis: Redis

    @property
    def ws_url(self) -> str:
        return str(self.server.make_url("/ws")).replace("http", "ws", 1)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def token(self, rep: str, team: str = "north") -> str:
        return self.authority.mint(Role.REP, rep, team=team, ttl_s=600)

    def role_token(self, role: Role, name: str = "test") -> str:
        return self.authority.mint(role, name, ttl_s=600)


def gateway_config(tmp_path: Path, extra_server: str = "", body: str = BASE_CONFIG) -> Config:
    """BASE_CONFIG with a private data folder, a fixed secret and optional server settings."""
    server = f'[server]\ndata_dir = "{tmp_path}"\nsecret = "{SECRET}"\n{extra_server}\n'
    return parse_config(server + body.replace("[server]\nstream_maxlen = 10000\n", ""))


@pytest.fixture
async def gateway(redis: Redis, redis_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
    """The app on a real port, on the session's Redis (flushed)."""
    async with running(create_app(gateway_config(tmp_path), redis=redis_url), redis) as gw:
        yield gw


@asynccontextmanager
async def running(app: web.Application, redis: Redis) -> AsyncIterator[Gateway]:
    """Serve an app on a real port for one test, and close it (watched) afterwards."""
    server = TestServer(app)
    await server.start_server()
    try:
        yield Gateway(server, app, TokenAuthority(SECRET), redis)
    finally:
        await _close_watched(server)


async def _close_watched(server: TestServer) -> None:
    """Close a test server; with LEADGRAB_DEBUG_TEARDOWN set, dump every task if it stalls."""
    import asyncio
    import sys

    closing = asyncio.ensure_future(server.close())
    done, _ = await asyncio.wait([closing], timeout=10)
    if not done and os.environ.get("LEADGRAB_DEBUG_TEARDOWN"):
        print("STALLED closing the test server; tasks:", file=sys.stderr)
        for task in asyncio.all_tasks():
            task.print_stack(file=sys.stderr)
    await closing



@pytest.fixture(autouse=True)
async def no_background_loop_outlives_its_app() -> AsyncIterator[None]:
    """A server's pollers must end with its app: a leftover one would fire the next test's
    timers with stale rules (the session shares one event loop and one Redis)."""
    import asyncio

    yield
    leftover = [t.get_name() for t in asyncio.all_tasks()
                if not t.done() and t.get_name().startswith("leadgrab:")]
    assert not leftover, f"background loops outlived their app: {leftover}"
