"""Shared fixtures: one real Redis per session (embedded, or REDIS_URL), flushed before each test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from server.config import Config, parse_config
from server.embedded import EmbeddedRedis
from server.keys import Limits
from server.store import ManualClock, Store

ROOT = Path(__file__).resolve().parent.parent
LIMITS = Limits(events_maxlen=10_000, audit_maxlen=1_000_000, request_ttl_ms=86_400_000)

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
