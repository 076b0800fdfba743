"""Named reads of the floor's state: rules, day table, leads, reps, pauses and due timers."""

from __future__ import annotations

from typing import Any

from server.store import keys
from server.store.session import Session


class Reads(Session):
    """What the domain reads from Redis besides running scripts; each one named."""

    async def answering(self, teams: list[str]) -> None:
        """Raise StoreError unless Redis answers a read of every team's keys (on a cluster,
        each team's node, and a cluster that is up)."""
        async with self._pipeline() as pipe:
            for team in teams:
                pipe.exists(keys.rules(team))
            await pipe.execute()

    async def rules_hash(self, team: str) -> dict[str, str]:
        """The team's rules hash as load_rules.lua wrote it."""
        found: dict[str, str] = await self._call(self._redis.hgetall(keys.rules(team)))
        return found

    async def rules_history(self, team: str) -> dict[int, str]:
        """Every rules version the team loaded -> its rules JSON (load_rules.lua keeps them)."""
        found: dict[str, str] = await self._call(
            self._redis.hgetall(keys.rules_history(team)))
        return {int(version): body for version, body in found.items()}

    async def rules_version(self, team: str) -> int:
        """The team's rules version in Redis (0 before the first load)."""
        version = await self._call(self._redis.hget(keys.rules(team), "version"))
        return int(version or 0)

    async def local_day(self, team: str, now_ms: int) -> str | None:
        """The team's local calendar date at `now_ms`, from the table the scripts use."""
        rows = await self._call(
            self._redis.zrevrangebyscore(keys.days(team), now_ms, "-inf", start=0, num=1))
        return rows[0] if rows else None

    async def lead_fields(self, team: str, lead_id: str) -> dict[str, str]:
        """A lead's stored hash ({} if unknown)."""
        found: dict[str, str] = await self._call(self._redis.hgetall(keys.lead(team, lead_id)))
        return found

    async def rep_fields(self, team: str, rep: str) -> dict[str, Any]:
        """A rep's quota and cooldown hash, and the ids of the leads it holds (sorted)."""
        state = await self._call(self._redis.hgetall(keys.rep_state(team, rep)))
        held = await self._call(self._redis.smembers(keys.held(team, rep)))
        return {"state": state, "held": sorted(held)}

    async def held_counts(self, team: str, reps: list[str]) -> list[int]:
        """How many leads each of `reps` holds now, in order."""
        async with self._pipeline() as pipe:
            for rep in reps:
                pipe.scard(keys.held(team, rep))
            counts: list[int] = await pipe.execute()
        return counts

    async def paused_reps(self, team: str, reps: list[str]) -> set[str]:
        """Those of `reps` paused now."""
        async with self._pipeline() as pipe:
            for rep in reps:
                pipe.hget(keys.rep_state(team, rep), "paused")
            flags = await pipe.execute()
        return {rep for rep, flag in zip(reps, flags, strict=True) if flag == "1"}

    async def due_timers(self, team: str, now_ms: int, limit: int) -> list[str]:
        """Members of the team's timer set due at `now_ms`, oldest first (as stored)."""
        due: list[str] = await self._call(
            self._redis.zrangebyscore(keys.timers(team), "-inf", now_ms, start=0, num=limit))
        return due

    async def timer_schedule(self, team: str, until_ms: int,
                             limit: int) -> list[tuple[str, int]]:
        """(member, due ms) of the team's timers due by `until_ms`, oldest first."""
        due = await self._call(self._redis.zrangebyscore(
            keys.timers(team), "-inf", until_ms, start=0, num=limit, withscores=True))
        return [(member, int(score)) for member, score in due]

