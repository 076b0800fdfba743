"""The audit stream read back: filtered pages in order, recent windows, JSONL and CSV export."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol

from server.contracts.audit_fields import AuditField
from server.floor.fairness import Entry

SCAN_BUDGET = 100_000  # entries one page may examine before answering with a cursor
CHUNK = 1000
# The entry id, then every field an audit entry can carry (lua/lib/audit.lua, in its order);
# any others go to the CSV's `extra` column.
KNOWN_FIELDS: tuple[str, ...] = ("id", *(name.value for name in AuditField))
CSV_HEADER = (*KNOWN_FIELDS, "extra")


class AuditSource(Protocol):
    """What reads a team's audit stream (the arbiter; the store in tests)."""

    async def audit_range(self, team: str, start: str, end: str,
                          count: int) -> list[tuple[str, dict[str, str]]]: ...


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which entries of a team's audit stream to read: XRANGE bounds, filters and page size."""

    team: str
    start: str = "-"  # an XRANGE bound: '-', an id or ms, or '(' + id (exclusive)
    end: str = "+"
    lead: str | None = None
    rep: str | None = None
    limit: int = 100

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether an entry passes the lead and rep filters."""
        return ((self.lead is None or fields.get(AuditField.LEAD) == self.lead)
                and (self.rep is None or fields.get(AuditField.REP) == self.rep))


@dataclass(frozen=True, slots=True)
class Page:
    """Matching entries in stream order, and the cursor to continue after (None: no more)."""

    entries: list[dict[str, str]]
    next: str | None


async def _rows(source: AuditSource, query: AuditQuery,
                count: int) -> AsyncGenerator[Entry, None]:
    """Every entry between the query's bounds, oldest first, read `count` at a time."""
    start = query.start
    while True:
        rows = await source.audit_range(query.team, start, query.end, count)
        for row in rows:
            yield row
        if len(rows) < count:
            return
        start = "(" + rows[-1][0]


async def page(source: AuditSource, query: AuditQuery, budget: int = SCAN_BUDGET) -> Page:
    """One page of matching entries; stops early with a cursor after `budget` entries."""
    found: list[dict[str, str]] = []
    last: str | None = None
    async with aclosing(_rows(source, query, CHUNK)) as rows:
        async for n, (entry_id, fields) in _numbered(rows):
            if n >= budget:
                return Page(found, last)
            last = entry_id
            if query.matches(fields):
                if len(found) == query.limit:
                    return Page(found, found[-1]["id"])
                found.append({"id": entry_id, **fields})
    return Page(found, None)


async def _numbered(rows: AsyncIterator[Entry]) -> AsyncIterator[tuple[int, Entry]]:
    n = 0
    async for row in rows:
        yield n, row
        n += 1


async def export(source: AuditSource, query: AuditQuery) -> AsyncIterator[list[dict[str, str]]]:
    """Every matching entry (no page size, no budget), in batches for streaming."""
    batch: list[dict[str, str]] = []
    async with aclosing(_rows(source, query, CHUNK)) as rows:
        async for entry_id, fields in rows:
            if query.matches(fields):
                batch.append({"id": entry_id, **fields})
            if len(batch) >= CHUNK:
                yield batch
                batch = []
    if batch:
        yield batch


async def after(source: AuditSource, team: str, entry_id: str, count: int) -> list[Entry]:
    """Up to `count` entries following `entry_id`, oldest first."""
    return list(await source.audit_range(team, "(" + entry_id, "+", count))


def jsonl(entries: list[dict[str, Any]]) -> bytes:
    """Entries as JSON Lines."""
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries).encode()


def csv_rows(entries: list[dict[str, str]], header: bool = False) -> bytes:
    """Entries as CSV rows (the known fields, then any others as JSON in `extra`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(CSV_HEADER)
    for entry in entries:
        extra = {k: v for k, v in entry.items() if k not in KNOWN_FIELDS}
        row = [entry.get(name, "") for name in KNOWN_FIELDS]
        writer.writerow([*row, json.dumps(extra, sort_keys=True) if extra else ""])
    return out.getvalue().encode()
