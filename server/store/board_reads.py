"""The manager board's Redis reads (floor state, audit and presence tails) and presence writes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from server.store import keys
from server.store.store import Store

Entry = tuple[str, dict[str, str]]
PRESENCE_MAXLEN = 10_000
OPEN_MAX = 20_000  # open leads a snapshot shows at the most (the newest by opening)


class BoardReads:
    """Reads a team's floor for the board; never changes arbitration state. Part of the
    store package, so it uses the store's private client and fault-wrapped calls."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def last_ids(self, team: str) -> dict[str, str]:
        """The newest audit and presence entry ids ('0-0' for an empty stream)."""
        async with self.store._pipeline() as pipe:
            pipe.xrevrange(keys.audit(team), count=1)
            pipe.xrevrange(keys.presence_log(team), count=1)
            audit, presence = await pipe.execute()
        return {"audit": audit[0][0] if audit else "0-0",
                "presence": presence[0][0] if presence else "0-0"}

    async def tail(self, team: str, cursor: dict[str, str], count: int,
                   block_ms: int | None) -> dict[str, list[Entry]]:
        """Audit and presence entries after `cursor` (one slot: both keys share the tag)."""
        names = {keys.audit(team): "audit", keys.presence_log(team): "presence"}
        streams: dict[Any, Any] = {key: cursor[name] for key, name in names.items()}
        reply = await self.store._call(self.store._redis.xread(streams, count=count,
                                                             block=block_ms))
        found: dict[str, list[Entry]] = {"audit": [], "presence": []}
        for key, rows in _pairs(reply):
            found[names[key]] = rows
        return found

    async def oldest(self, team: str) -> str | None:
        """The oldest audit entry id still in the stream."""
        rows = await self.store._call(self.store._redis.xrange(keys.audit(team), count=1))
        return rows[0][0] if rows else None

    async def recent(self, team: str, count: int, presence: bool = False,
                     until: str = "+") -> list[Entry]:
        """The newest `count` audit (or presence) entries up to `until`, oldest first."""
        key = keys.presence_log(team) if presence else keys.audit(team)
        rows: list[Entry] = await self.store._call(
            self.store._redis.xrevrange(key, max=until, count=count))
        return rows[::-1]

    async def leads(self, team: str, lead_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """Each lead's stored hash ({} when gone)."""
        ids = sorted(set(lead_ids))
        async with self.store._pipeline() as pipe:
            for lead_id in ids:
                pipe.hgetall(keys.lead(team, lead_id))
            rows = await pipe.execute()
        return dict(zip(ids, rows, strict=True))

    async def reps(self, team: str, reps: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Each rep's state hash and the leads it holds."""
        ids = sorted(set(reps))
        async with self.store._pipeline() as pipe:
            for rep in ids:
                pipe.hgetall(keys.rep_state(team, rep))
                pipe.smembers(keys.held(team, rep))
            rows = await pipe.execute()
        return {rep: {"state": rows[2 * i], "held": sorted(rows[2 * i + 1])}
                for i, rep in enumerate(ids)}

    async def online(self, team: str) -> dict[str, int]:
        """Open sockets per rep over every server process."""
        raw = await self.store._call(self.store._redis.hgetall(keys.presence(team)))
        counts: dict[str, int] = {}
        for field, value in raw.items():
            rep = field.rpartition("|")[0]
            counts[rep] = counts.get(rep, 0) + max(int(value), 0)
        return counts

    async def open_lead_ids(self, team: str) -> set[str]:
        """The open leads in the team's pool index (lg:{team}:pool; the newest OPEN_MAX by
        when each opened); the caller checks their state."""
        ids: list[str] = await self.store._call(
            self.store._redis.zrevrange(keys.pool(team), 0, OPEN_MAX - 1))
        return set(ids)

    async def presence_changed(self, team: str, rep: str, instance: str, delta: int,
                               now_ms: int) -> None:
        """Count a socket opened (+1) or closed (-1) and log the change for the feed."""
        field = f"{rep}|{instance}"
        async with self.store._pipeline() as pipe:
            pipe.hincrby(keys.presence(team), field, delta)
            pipe.xadd(keys.presence_log(team),
                      {"action": "connected" if delta > 0 else "disconnected", "rep": rep,
                       "instance": instance, "ts": str(now_ms)},
                      maxlen=PRESENCE_MAXLEN, approximate=True)
            await pipe.execute()

    async def forget_instance(self, team: str, instance: str) -> None:
        """Drop a stopping process's presence counts."""
        raw = await self.store._call(self.store._redis.hkeys(keys.presence(team)))
        mine = [f for f in raw if f.endswith("|" + instance)]
        if mine:
            await self.store._call(self.store._redis.hdel(keys.presence(team), *mine))


def _pairs(reply: Any) -> list[tuple[str, list[Entry]]]:
    """XREAD's reply as (key, rows), whether RESP2 (a list) or RESP3 (a map)."""
    if isinstance(reply, dict):
        return list(reply.items())
    return [(key, rows) for key, rows in reply or []]
