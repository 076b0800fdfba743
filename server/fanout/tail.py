"""Tails one team's events stream in Redis and hands every entry to the local hub."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import NamedTuple

from server.background import stop_requested
from server.contracts.events import EventType
from server.fanout.deliveries import deliveries
from server.fanout.hub import Hub, seq_key
from server.metrics import Metrics
from server.store.event_reader import EventReader
from server.store.store import StoreError

log = logging.getLogger(__name__)
BLOCK_MS = 2000
BATCH = 500
# Redis answers blocked XREADs in the order they blocked: the gateway process that blocked first
# would tend to read each entry first, keeping its reps ahead of the others' (a fan-out run with
# two workers had its first receipts spread over half the reps only). A random pause before
# blocking again reorders the processes; an entry that arrives meanwhile is read at its end.
REJOIN_JITTER_S = 0.002


class Tail:
    """A blocking XREAD loop for one team (one slot, so it works on Redis Cluster too)."""

    def __init__(self, reader: EventReader, hub: Hub, metrics: Metrics, team: str) -> None:
        self.reader, self.hub, self.metrics, self.team = reader, hub, metrics, team
        self.last = "$"

    async def start(self) -> None:
        """Begin at the newest entry: earlier ones reach clients through `resume`."""
        self.last = await self.reader.newest(self.team) or "0-0"

    async def run(self) -> None:
        """Deliver new entries forever; after a Redis fault, wait and go on where it stopped."""
        while not stop_requested():
            try:
                if self.last == "$":
                    await self.start()
                if await self.read_once():
                    await asyncio.sleep(random.uniform(0, REJOIN_JITTER_S))
            except StoreError as exc:
                log.warning("tail of team %s interrupted: %s", self.team, exc)
                await asyncio.sleep(0.5)

    async def read_once(self) -> bool:
        """Read and deliver what is new (waiting up to BLOCK_MS); False if nothing came."""
        entries = await self.reader.read(self.team, self.last, BATCH, BLOCK_MS)
        if not entries:
            return False
        offers: list[Offered] = []
        # entries read together (a backlog) reach each socket with one write
        with self.hub.coalesced(self.team, len(entries) > 1):
            for seq, fields in entries:
                self.last = seq
                offers += self.dispatch(seq, fields)
        self.count(offers, time.perf_counter())
        return True

    def dispatch(self, seq: str, fields: dict[str, str]) -> list[Offered]:
        """Hand one entry to the hub; a lead offer is returned for counting."""
        kind = fields.get("type")
        if kind == EventType.PAUSE:
            self.hub.set_paused(fields["rep"], fields.get("paused") == "1")
        if kind == EventType.SETTLED and not self.hub.first_settlement(fields["lead_id"]):
            return []
        items = deliveries(fields, seq)
        if not items:
            return []
        started = time.perf_counter()
        sent = self.hub.deliver(self.team, seq, items)
        if kind != EventType.LEAD:
            return []
        return [Offered(seq, fields["lead_id"], fields.get("published_ms"), started, sent)]

    def count(self, offers: list[Offered], handed_off: float) -> None:
        """Metrics of offers once they are written (or queued) to every local socket."""
        m = self.metrics
        for offer in offers:
            m.fanout.observe(handed_off - offer.started)
            published_ms = int(offer.published_ms or seq_key(offer.seq)[0])
            m.reps.lead_offered(self.team, offer.lead_id, published_ms)
            lag_s = time.time() - seq_key(offer.seq)[0] / 1000  # the entry id is its Redis time
            m.broadcast_lag.observe(max(lag_s, 0.0))
            m.offers.inc(offer.sent)


class Offered(NamedTuple):
    """A lead offer handed to the hub: what its metrics need."""

    seq: str
    lead_id: str
    published_ms: str | None
    started: float
    sent: int
