"""Named reads of a team's two streams: the audit trail and the events catch-up."""

from __future__ import annotations

from dataclasses import dataclass

from server.store import keys
from server.store.session import Session

Entry = tuple[str, dict[str, str]]  # a stream entry: its id and its fields


@dataclass(frozen=True, slots=True)
class Backlog:
    """What a team's events stream holds after a resume point."""

    first: str | None  # the oldest entry id still in the stream
    resume_kept: bool  # whether the resume point itself is still there
    entries: list[Entry]


class StreamReads(Session):
    """Reads of the audit and events streams (the tails' blocking reads: EventReader)."""

    async def audit_range(self, team: str, start: str, end: str, count: int) -> list[Entry]:
        """Up to `count` audit entries between XRANGE bounds, oldest first."""
        rows: list[Entry] = await self._call(
            self._redis.xrange(keys.audit(team), start, end, count=count))
        return rows

    async def audit_cut_ms(self, team: str) -> int | None:
        """When the audit stream is at its length cap, the time of its oldest entry (what
        came before was trimmed away); None while nothing has been trimmed."""
        length = await self._call(self._redis.xlen(keys.audit(team)))
        if length < self.retention.audit_maxlen:
            return None
        oldest: list[Entry] = await self._call(self._redis.xrange(keys.audit(team), count=1))
        return int(oldest[0][0].partition("-")[0]) if oldest else None

    async def audit_trail(self, team: str, lead_id: str, count: int) -> list[dict[str, str]]:
        """The latest `count` audit entries of one lead, oldest first."""
        ids = await self._call(self._redis.lrange(keys.trail(team, lead_id), -count, -1))
        async with self._pipeline() as pipe:
            for entry_id in ids:
                pipe.xrange(keys.audit(team), entry_id, entry_id)
            found = await pipe.execute()
        return [{"id": rows[0][0], **rows[0][1]} for rows in found if rows]

    async def events_head(self, team: str) -> str:
        """The id of the newest entry of the team's events stream ('0-0' when empty)."""
        newest: list[Entry] = await self._call(self._redis.xrevrange(keys.events(team),
                                                                     count=1))
        return newest[0][0] if newest else "0-0"

    async def events_backlog(self, team: str, resume: str, page: int) -> Backlog:
        """Every events entry after `resume` (read `page` at a time), the oldest id still
        kept, and whether `resume` itself is still there."""
        stream = keys.events(team)
        oldest: list[Entry] = await self._call(self._redis.xrange(stream, count=1))
        kept = await self._call(self._redis.xrange(stream, resume, resume))
        entries: list[Entry] = []
        after = resume
        while rows := await self._call(self._redis.xrange(stream, "(" + after, "+",
                                                          count=page)):
            entries += rows
            after = rows[-1][0]
        return Backlog(oldest[0][0] if oldest else None, bool(kept), entries)
