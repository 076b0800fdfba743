"""What an external Redis's persistence settings mean for an acknowledged decision."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
_TIMEOUT_S = 5.0


def risk(settings: dict[str, str], durability: str) -> str | None:
    """Why an acknowledged decision could be lost with these CONFIG values, or None."""
    if settings.get("appendonly") != "yes":
        saves = settings.get("save", "").strip()
        snapshots = f"RDB snapshots only (save {saves!r})" if saves else "no persistence"
        return (f"appendonly is off: {snapshots}; a Redis restart loses every decision since "
                "the last snapshot")
    fsync = settings.get("appendfsync", "")
    if durability == "always" and fsync != "always":
        return (f"appendfsync is {fsync!r}, not 'always': a power loss or host crash may drop "
                "the last second or more of acknowledged decisions")
    return None


async def read_settings(url: str) -> dict[str, str] | None:
    """CONFIG GET appendonly, appendfsync and save; None when CONFIG is refused."""
    client = Redis.from_url(url, decode_responses=True, socket_connect_timeout=_TIMEOUT_S,
                            socket_timeout=_TIMEOUT_S, driver_info=None)
    settings: dict[str, str] = {}
    try:
        for name in ("appendonly", "appendfsync", "save"):
            reply = await client.config_get(name)
            settings.update((str(k), str(v)) for k, v in reply.items())
    except (RedisError, OSError) as exc:
        log.info("cannot read the Redis persistence settings (%s): not checked", exc)
        return None
    finally:
        await client.aclose()
    return settings


async def warn_if_lossy(url: str, durability: str) -> str | None:
    """Log one warning when the Redis at `url` could lose an acknowledged decision."""
    settings = await read_settings(url)
    problem = None if settings is None else risk(settings, durability)
    if problem is not None:
        log.warning("Redis persistence (durability = %r): %s", durability, problem)
    return problem
