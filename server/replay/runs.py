"""The replay's two uses: exact (does the audit explain every decision?) and what-if."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from server.config import Config
from server.replay.comparison import Comparison, compare
from server.replay.record import Record, RecordError, record
from server.replay.replayer import replay
from server.replay.report import WhatIf, what_if
from server.store.store import Retention, Store

SOURCE_RETENTION = Retention(events_maxlen=1, audit_maxlen=1, request_ttl_ms=1)
PAGE = 10_000


async def from_redis(url: str, team: str, start: str = "-", end: str = "+",
                     limit: int | None = None) -> tuple[list[dict[str, str]], dict[int, str]]:
    """A team's audit entries (up to `limit`) and its kept rules versions, from a Redis."""
    store = await Store.open(url, SOURCE_RETENTION)
    try:
        entries: list[dict[str, str]] = []
        while limit is None or len(entries) < limit:
            count = PAGE if limit is None else min(PAGE, limit - len(entries))
            rows = await store.audit_range(team, start, end, count)
            entries += [{"id": entry_id, **fields} for entry_id, fields in rows]
            if len(rows) < count:
                break
            start = "(" + rows[-1][0]
        return entries, await store.rules_history(team)
    finally:
        await store.aclose()


def team_of(rec: Record, team: str | None, config: Config | None) -> str:
    """The team to replay: as named, else the publishes' team, else the config's only one."""
    found = team or rec.team() or (next(iter(config.teams)) if config and
                                   len(config.teams) == 1 else None)
    if not found:
        raise RecordError("name the team with --team (no publish in the audit names one)")
    if config is not None and found not in config.teams:
        raise RecordError(f"team {found!r} is not in the new config "
                          f"(it has: {', '.join(sorted(config.teams))})")
    return found


async def exact(entries: Iterable[Mapping[str, str]], history: Mapping[int, str] | None = None,
                team: str | None = None) -> tuple[Comparison, float]:
    """Replay under the recorded rules; every decision compared. Returns the comparison and
    the replay's seconds."""
    rec = record(entries, history)
    run = await replay(rec, team_of(rec, team, None))
    return compare(rec.entries, run.entries), run.seconds


async def whatif(entries: Iterable[Mapping[str, str]], config: Config,
                 team: str | None = None, retry_rejected: bool = False) -> WhatIf:
    """Replay the same inputs under `config`; the figures of both runs side by side."""
    rec = record(entries)
    run = await replay(rec, team_of(rec, team, config), config, retry_rejected)
    return what_if(rec.entries, run.entries, run.roster, run.seconds)
