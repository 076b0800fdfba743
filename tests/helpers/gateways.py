"""Fixtures serving the app with a test file's own config, on real sockets and the session's
Redis (flushed), like conftest's `gateway`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from server.app import create_app
from tests.conftest import Gateway, gateway_config, running


def gateway_with(name: str, body: str, extra_server: str = "") -> Callable[..., Any]:
    """A fixture called `name`: the app for the config `body` (conftest's BASE_CONFIG form)."""

    @pytest.fixture(name=name)
    async def served(redis: Redis, redis_url: str, tmp_path: Path) -> AsyncIterator[Gateway]:
        config = gateway_config(tmp_path, extra_server, body)
        async with running(create_app(config, redis=redis_url), redis) as gw:
            yield gw

    return served
