"""The Redis boundary other layers get: `Store`, one facade over the store's modules.

Scripts (`commands`), named reads (`reads`, `streams`, `pool_reads`) and the client they
share (`session`); driver errors become `StoreError` once (`faults`). No module outside
`server/store/` holds a Redis client.
"""

from __future__ import annotations

from server.store import backend
from server.store.commands import Commands
from server.store.faults import StoreError, connect
from server.store.keys import Retention
from server.store.outcome_commands import OutcomeCommands
from server.store.pool_reads import PoolHealth, PoolReads
from server.store.reads import Reads
from server.store.return_reads import ReturnReads
from server.store.score_reads import ScoreReads
from server.store.session import NowOverride, SeedOverride
from server.store.streams import Backlog, Entry, StreamReads

__all__ = ["Backlog", "Entry", "NowOverride", "PoolHealth", "Retention", "SeedOverride", "Store",
           "StoreError"]


class Store(Commands, Reads, StreamReads, PoolReads, ReturnReads, OutcomeCommands,
            ScoreReads):
    """Runs the arbitration scripts and answers the domain's reads, on one Redis client."""

    @classmethod
    async def open(cls, url: str, retention: Retention, now_override: NowOverride | None = None,
                   max_connections: int = backend.POOL_CONNECTIONS,
                   seed_override: SeedOverride | None = None) -> Store:
        """A store on a new client for `url` (a server or a cluster); StoreError if down."""
        return cls(await connect(url, max_connections), retention, now_override, seed_override)
