"""Benchmark (by hand, not in the suite): the fairness scoreboard's CPU per audit entry.

    flock /tmp/leadgrab-bench.lock .venv/bin/python -m tests.scoreboard_bench [ENTRIES] [ROUNDS]

Fills one team's audit stream on a private Redis with claim entries shaped as claim.lua writes
them (per lead one fcfs win, three losses, every fifth a rejection), then times a first
`Scoreboard.refresh` (the backfill over every entry) with `time.process_time`, ROUNDS times.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from redis.asyncio import Redis

from server.floor.scoreboard import Scoreboard
from server.replay.sandbox import private_redis
from server.store.store import Retention, Store
from tests.clock import ManualClock

TEAM = "lt"


async def fill(redis: Redis, entries: int) -> None:
    """`entries` claim entries in the team's audit stream, written as claim.lua does."""
    key, now = f"lg:{{{TEAM}}}:audit", int(time.time() * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(entries):
            lead, turn = f"L{n // 5}", n % 5
            result = ("won", "lost", "lost", "lost", "rejected")[turn]
            fields = {"ts": str(now + turn), "action": "claim", "lead": lead,
                      "rep": f"rep{n * 7 % 200:04d}", "req": f"q{n}", "result": result,
                      "rules_version": "1", "seq": str(n)}
            if result == "rejected":
                fields["reason"], fields["retry_after_ms"] = "cooldown", "500"
            pipe.xadd(key, fields)  # type: ignore[arg-type]
            if n % 1000 == 999:
                await pipe.execute()
        await pipe.execute()


class Source:
    """What the scoreboard asks of the arbiter for a refresh, over a Store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def main(entries: int, rounds: int) -> None:
    async with private_redis() as url:
        redis = Redis.from_url(url, decode_responses=True)
        await fill(redis, entries)
        store = await Store.open(url, Retention(1000, 10_000_000, 86_400_000), ManualClock())
        for _ in range(rounds):
            board = Scoreboard(Source(store), None)  # type: ignore[arg-type]
            wall, cpu = time.perf_counter(), time.process_time()
            await board.refresh(TEAM)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            counted = board.tallies[TEAM].windows["24h"].entries
            print(f"{counted} entries: {cpu * 1e6 / counted:.2f} µs CPU per entry "
                  f"({cpu:.3f} s CPU, {wall:.3f} s wall)")
        await store.aclose()
        await redis.aclose()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [50_000, 5][len(args):])))
