"""Blocking reads of the teams' events streams, on a client of their own."""

from __future__ import annotations

from typing import Any

from server.store import keys
from server.store.backend import Client
from server.store.faults import connect, wrapped
from server.store.streams import Entry


class EventReader:
    """XREAD for the stream tails: each blocking read holds a connection, so the tails get
    their own client (one connection per team) and leave the main pool to the claims."""

    def __init__(self, redis: Client) -> None:
        self._redis = redis

    @classmethod
    async def open(cls, url: str, connections: int) -> EventReader:
        """A reader with its own pool of `connections`; StoreError when Redis is down."""
        return cls(await connect(url, connections))

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def newest(self, team: str) -> str | None:
        """The id of the newest entry of the team's events stream."""
        with wrapped():
            newest: Any = await self._redis.xrevrange(keys.events(team), count=1)
        return newest[0][0] if newest else None

    async def read(self, team: str, after: str, count: int, block_ms: int) -> list[Entry]:
        """Up to `count` entries after `after`, waiting up to `block_ms` for the first."""
        with wrapped():
            replies: Any = await self._redis.xread({keys.events(team): after}, count=count,
                                                   block=block_ms)
        return [entry for _stream, entries in replies for entry in entries]
