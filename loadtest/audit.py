"""Reading a run's decisions back from the team's audit stream in Redis."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from loadtest.histogram import Latency
from server.store import keys

PAGE = 10_000


@dataclass
class AuditView:
    """This run's leads as the audit stream tells them: winners, settlements and their timing."""

    winners: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    settles: dict[str, str] = field(default_factory=dict)
    window_ends_ms: dict[str, int] = field(default_factory=dict)
    settled_ms: dict[str, int] = field(default_factory=dict)

    def take(self, fields: dict[str, str]) -> None:
        """Note one audit entry of this run."""
        lead, action, result = fields["lead"], fields.get("action"), fields.get("result")
        if action == "claim" and result == "won" and fields.get("note") != "already_holder":
            self.winners[lead].append(fields["rep"])
        elif action == "claim" and result == "pending" and lead not in self.window_ends_ms:
            self.window_ends_ms[lead] = int(fields["ts"]) + int(fields["retry_after_ms"])
        elif action == "settle":
            self.settled_ms[lead] = int(fields["ts"])
            if result == "won":
                self.settles[lead] = fields["rep"]

    def settle_lag(self) -> Latency:
        """Per settled window: Redis time of the settlement minus the window's end (ms)."""
        lag = Latency()
        for lead, settled in self.settled_ms.items():
            ends = self.window_ends_ms.get(lead)
            if ends is not None:
                lag.record_us((settled - ends) * 1000)
        return lag


async def mark(redis_url: str, team: str) -> str:
    """The id of the newest audit entry now; the check reads only what comes after it."""
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        newest: Any = await client.xrevrange(keys.audit(team), count=1)
    finally:
        await client.aclose()
    return str(newest[0][0]) if newest else "0-0"


async def read(redis_url: str, team: str, prefix: str, after: str) -> AuditView:
    """The audit entries after `after` of leads whose id starts with `prefix`."""
    client = Redis.from_url(redis_url, decode_responses=True)
    view = AuditView()
    try:
        start = f"({after}"
        while True:
            page: Any = await client.xrange(keys.audit(team), min=start, count=PAGE)
            for _, fields in page:
                if fields.get("lead", "").startswith(prefix):
                    view.take(fields)
            if len(page) < PAGE:
                return view
            start = f"({page[-1][0]}"
    finally:
        await client.aclose()
