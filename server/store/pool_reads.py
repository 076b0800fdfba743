"""Named reads of a team's pool: its open-lead index (lg:{team}:pool), lead rows and health."""

from __future__ import annotations

from dataclasses import dataclass

from server.store import keys
from server.store.session import Session


@dataclass(frozen=True, slots=True)
class PoolHealth:
    """A team's pool as the gauges show it: open leads, the oldest one's opening time, and how
    many have been open longer than the stale bound."""

    open: int
    oldest_ms: int | None
    stale: int


class PoolReads(Session):
    """The pool's reads: pages of the open-lead index, the leads' rows, held ids, health."""

    async def open_page(self, team: str, before: tuple[int, str] | None,
                        count: int) -> list[tuple[str, int]]:
        """Up to `count` open leads (id, opened ms), newest first, strictly after the cursor
        `before` = (opened ms, id) of the last one already seen (ties: descending id)."""
        key = keys.pool(team)
        if before is None:
            rows = await self._call(self._redis.zrevrangebyscore(
                key, "+inf", "-inf", start=0, num=count, withscores=True))
            return [(lead_id, int(score)) for lead_id, score in rows]
        ms, last = before
        async with self._pipeline() as pipe:
            pipe.zrevrangebyscore(key, ms, ms, withscores=True)  # those opened in that ms
            pipe.zrevrangebyscore(key, f"({ms}", "-inf", start=0, num=count, withscores=True)
            same, older = await pipe.execute()
        page = [(i, int(s)) for i, s in same if i < last] + [(i, int(s)) for i, s in older]
        return page[:count]

    async def lead_rows(self, team: str, lead_ids: list[str]) -> list[dict[str, str]]:
        """Each lead's stored hash, in order ({} for one that expired meanwhile)."""
        if not lead_ids:
            return []
        async with self._pipeline() as pipe:
            for lead_id in lead_ids:
                pipe.hgetall(keys.lead(team, lead_id))
            rows: list[dict[str, str]] = await pipe.execute()
        return rows

    async def held_ids(self, team: str, reps: list[str]) -> list[str]:
        """The ids of the leads `reps` hold now (sorted)."""
        if not reps:
            return []
        async with self._pipeline() as pipe:
            for rep in reps:
                pipe.smembers(keys.held(team, rep))
            sets: list[set[str]] = await pipe.execute()
        return sorted(set().union(*sets))

    async def audit_before(self, team: str, before: str | None,
                           count: int) -> list[tuple[str, dict[str, str]]]:
        """Up to `count` audit entries newest first, strictly before the entry id `before`."""
        top = "+" if before is None else f"({before}"
        rows: list[tuple[str, dict[str, str]]] = await self._call(
            self._redis.xrevrange(keys.audit(team), top, "-", count=count))
        return rows

    async def pool_health(self, team: str, now_ms: int, stale_after_ms: int) -> PoolHealth:
        """Open leads, the oldest opening time, and those open since before now - stale."""
        key = keys.pool(team)
        async with self._pipeline() as pipe:
            pipe.zcard(key)
            pipe.zrange(key, 0, 0, withscores=True)
            pipe.zcount(key, "-inf", now_ms - stale_after_ms)
            size, oldest, stale = await pipe.execute()
        return PoolHealth(int(size), int(oldest[0][1]) if oldest else None, int(stale))
