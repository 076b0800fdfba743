"""`[server] durability`: the embedded Redis's fsync policy, and the check of an external Redis's
persistence at start-up (issue 15, finding 9)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from redis.asyncio import Redis

from server.app import redis_url
from server.config import parse_config
from server.store.embedded import EmbeddedRedis

TEAM = ('[teams.north]\nrules = { max_open = 1, max_daily = 1, cooldown_after_claim_ms = 0, '
        'penalty_cooldown_ms = 0 }\n')


def config(tmp_path: Path, **server: str) -> str:
    lines = "".join(f'{key} = "{value}"\n' for key, value in server.items())
    return f'[server]\ndata_dir = "{tmp_path / "data"}"\n{lines}\n{TEAM}'


async def appendfsync(url: str) -> str:
    client = Redis.from_url(url, decode_responses=True, driver_info=None)
    try:
        return str((await client.config_get("appendfsync"))["appendfsync"])
    finally:
        await client.aclose()


@pytest.mark.parametrize(("setting", "expected"),
                         [({}, "always"), ({"durability": "everysec"}, "everysec")])
async def test_the_embedded_redis_fsyncs_as_the_durability_setting_says(
        tmp_path: Path, setting: dict[str, str], expected: str) -> None:
    async with redis_url(parse_config(config(tmp_path, **setting)), None) as url:
        assert await appendfsync(url) == expected


@pytest.mark.parametrize(("options", "durability", "warning"), [
    ({"appendfsync": "always"}, "always", None),
    ({"appendfsync": "everysec"}, "everysec", None),
    ({"appendfsync": "everysec"}, "always", "appendfsync is 'everysec', not 'always'"),
])
async def test_an_external_redis_is_checked_once_at_start_up(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, options: dict[str, str],
        durability: str, warning: str | None) -> None:
    async with EmbeddedRedis(tmp_path / "ext", options=options) as external:
        cfg = parse_config(config(tmp_path, redis_url=external, durability=durability))
        with caplog.at_level(logging.WARNING):
            async with redis_url(cfg, None) as url:
                assert url == external
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    if warning is None:
        assert said == []
    else:
        assert len(said) == 1 and warning in said[0]


async def test_an_external_redis_without_aof_is_warned_about(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with EmbeddedRedis(tmp_path / "ext", appendonly=False) as external:
        with caplog.at_level(logging.WARNING):
            async with redis_url(parse_config(config(tmp_path, redis_url=external)), None):
                pass
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1 and "appendonly is off" in said[0]


async def test_a_refused_config_get_is_tolerated(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    async with EmbeddedRedis(tmp_path / "ext", options={"appendfsync": "no"}) as external:
        admin = Redis.from_url(external, driver_info=None)
        await admin.execute_command("ACL", "SETUSER", "app", "on", ">app-password", "~*",
                                    "+@all", "-config")
        await admin.aclose()
        limited = external.replace("unix://", "unix://app:app-password@")
        with caplog.at_level(logging.INFO):
            async with redis_url(parse_config(config(tmp_path, redis_url=limited)), None):
                pass
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("not checked" in r.getMessage() for r in caplog.records)
