"""The replay's private world: a throwaway redis-server, the scripts' clock, the draw seeds."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from server.store.embedded import EmbeddedRedis


@dataclass(slots=True)
class Clock:
    """The scripts' "now" during a replay (the store's now override)."""

    now_ms: int = 0

    def __call__(self) -> int:
        return self.now_ms


@dataclass(slots=True)
class Seeds:
    """The draw seeds: the one the record shows for the timer firing under way (set while it
    runs: a draw consumes the seed of its own recorded entry, whatever fired before it on
    that lead), else one derived from the clock."""

    clock: Clock
    firing: str = ""

    def __call__(self, _team: str, lead_id: str) -> str:
        if self.firing:
            return self.firing
        return hashlib.sha1(f"{lead_id}:{self.clock.now_ms}".encode()).hexdigest()


@asynccontextmanager
async def private_redis() -> AsyncIterator[str]:
    """A throwaway redis-server (no persistence) in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="lg-replay-") as folder:
        async with EmbeddedRedis(Path(folder), appendonly=False) as url:
            yield url
