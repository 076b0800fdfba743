"""The public pool (公海): which open leads a rep may see, from when, and pages of it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from server.floor.resources import iso, lead_resource
from server.floor.roster import Member
from server.store.store import Store

PAGE = 200  # index entries read per round trip
SCAN_MAX = 5000  # index entries one request may read before it returns a cursor


@dataclass(frozen=True, slots=True)
class PoolLead:
    """An open lead as stored: its hash and when it (re)opened."""

    lead_id: str
    opened_ms: int
    fields: Mapping[str, str]

    def payload(self) -> dict[str, Any]:
        """The public fields a rep receives, with its offer seq and publish time."""
        body: dict[str, Any] = json.loads(self.fields.get("payload") or "{}")
        body.update(seq=self.fields.get("seq", ""),
                    published_ms=int(self.fields.get("published_ms") or 0))
        return body


def opens_at(fields: Mapping[str, str], member: Member, now_ms: int) -> int | None:
    """When this open lead is offered to `member` (≤ now: already), or None if never: the
    owner window first, then the release stages that name the rep's tier (or '*'); mirrors
    publish_lead.lua and offer_lead.lua. Eligibility (region, skills) is checked apart."""
    owner = fields.get("owner", "")
    owner_until = int(fields.get("owner_until_ms") or 0)
    if owner and member.id == owner:
        return now_ms
    stages = json.loads(fields.get("stages") or "null") or []
    if not stages:
        return max(owner_until, now_ms) if owner else now_ms
    base = int(fields.get("release_base_ms") or fields.get("published_ms") or 0)
    times = [base + int(s.get("after_ms", 0)) for s in stages
             if member.tier in s.get("tiers", []) or "*" in s.get("tiers", [])]
    return max(min(times), now_ms) if times else None


def seen_by(member: Member, lead: PoolLead, now_ms: int) -> int | None:
    """When `member` may see this open lead (see opens_at), or None: same filter as offers."""
    payload = json.loads(lead.fields.get("payload") or "{}")
    if not member.may_receive(str(payload.get("region", "")), payload.get("skills") or ()):
        return None
    return opens_at(lead.fields, member, now_ms)


Keep = Callable[[PoolLead], bool]


async def scan(store: Store, team: str, keep: Keep, limit: int,
               after: tuple[int, str] | None = None) -> tuple[list[PoolLead], str | None]:
    """Open leads newest first that `keep` admits, up to `limit`, after the cursor; and the
    cursor of the next page (None at the end). Reads at most SCAN_MAX index entries, so a
    rare filter on a large pool returns fewer leads and a cursor to go on with."""
    found: list[PoolLead] = []
    read = 0
    while len(found) < limit and read < SCAN_MAX:
        page = await store.open_page(team, after, PAGE)
        if not page:
            return found, None
        read += len(page)
        rows = await store.lead_rows(team, [lead_id for lead_id, _ in page])
        for (lead_id, opened), fields in zip(page, rows, strict=True):
            after = (opened, lead_id)
            lead = PoolLead(lead_id, opened, fields)
            if fields.get("state") in ("open", "window") and keep(lead):
                found.append(lead)
                if len(found) == limit:
                    return found, cursor(after)
        if len(page) < PAGE:
            return found, None
    return found, cursor(after) if after else None


def cursor(after: tuple[int, str]) -> str:
    return f"{after[0]}:{after[1]}"


def parse_cursor(raw: str) -> tuple[int, str]:
    """'<opened ms>:<lead id>' as given in next_cursor; ValueError otherwise."""
    ms, sep, lead_id = raw.partition(":")
    if not sep or not ms.isdigit() or not lead_id:
        raise ValueError("expected the next_cursor of a previous page")
    return int(ms), lead_id


@dataclass(frozen=True, slots=True)
class LeadQuery:
    """GET /api/leads filters: each one optional; `older_than_ms` counts from opening."""

    team: str
    state: str = "open"  # open | held | recent (held and recent: managers only)
    region: str | None = None
    skill: str | None = None
    min_value: float | None = None
    priority: int | None = None
    older_than_ms: int | None = None
    customer: str | None = None
    limit: int = 50
    cursor: str | None = None

    def admits(self, lead: PoolLead, now_ms: int) -> bool:
        """Whether the lead passes every filter given."""
        p: dict[str, Any] = json.loads(lead.fields.get("payload") or "{}")
        return ((self.region is None or p.get("region", "") == self.region)
                and (self.skill is None or self.skill in (p.get("skills") or ()))
                and (self.min_value is None or float(p.get("value", 0)) >= self.min_value)
                and (self.priority is None or int(p.get("priority", 0)) == self.priority)
                and (self.older_than_ms is None or lead.opened_ms <= now_ms - self.older_than_ms)
                and (self.customer is None or p.get("customer_id", "") == self.customer))


def listed(team: str, lead: PoolLead, opens_ms: int | None, now_ms: int) -> dict[str, Any]:
    """One lead as GET /api/leads shows it: the lead resource (as GET /api/leads/{id}, without
    the trail), when it (re)opened, and when it opens for this rep if not yet."""
    body = lead_resource(lead.lead_id, team, lead.fields)
    body.update(opened_ms=lead.opened_ms, opened_at=iso(lead.opened_ms))
    if opens_ms is not None and opens_ms > now_ms:
        body.update(opens_ms=opens_ms, opens_at=iso(opens_ms))
    return body


async def browse(store: Store, query: LeadQuery, viewer: Member | None, reps: list[str],
                 now_ms: int) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the team's leads for a rep (`viewer`: open leads they may see) or a manager
    (None: open or held, `reps` being the team's roster), and the next page's cursor."""
    if query.state == "held":
        return await _held(store, query, reps, now_ms)
    if query.state == "recent":
        return await _recent(store, query, now_ms)
    opening: dict[str, int | None] = {}

    def keep(lead: PoolLead) -> bool:
        if not query.admits(lead, now_ms):
            return False
        opening[lead.lead_id] = seen_by(viewer, lead, now_ms) if viewer else None
        return viewer is None or opening[lead.lead_id] is not None

    after = parse_cursor(query.cursor) if query.cursor else None
    leads, nxt = await scan(store, query.team, keep, query.limit, after)
    return [listed(query.team, lead, opening[lead.lead_id], now_ms) for lead in leads], nxt


async def _held(store: Store, query: LeadQuery, reps: list[str],
                now_ms: int) -> tuple[list[dict[str, Any]], str | None]:
    """Held leads by id (bounded by the roster's max_open), after the cursor id."""
    ids = [i for i in await store.held_ids(query.team, reps)
           if query.cursor is None or i > query.cursor]
    rows = await store.lead_rows(query.team, ids)
    leads = [PoolLead(i, int(f.get("published_ms") or 0), f) for i, f in zip(ids, rows, strict=True)
             if f.get("state") == "held"]
    page = [lead for lead in leads if query.admits(lead, now_ms)][:query.limit + 1]
    more = len(page) > query.limit
    page = page[:query.limit]
    return ([listed(query.team, lead, None, now_ms) for lead in page],
            page[-1].lead_id if more else None)


FINISHING = frozenset({"close", "withdraw"})  # audit actions that end a lead


async def _recent(store: Store, query: LeadQuery,
                  now_ms: int) -> tuple[list[dict[str, Any]], str | None]:
    """Leads closed or withdrawn, newest decision first, read back from the audit stream (at
    most SCAN_MAX entries a request); the cursor is the last audit entry id read."""
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    before, read = query.cursor, 0
    while len(found) < query.limit and read < SCAN_MAX:
        rows = await store.audit_before(query.team, before, PAGE)
        if not rows:
            return found, None
        read += len(rows)
        for entry_id, fields in rows:
            before = entry_id
            lead_id = fields.get("lead", "")
            if fields.get("action") not in FINISHING or lead_id in seen:
                continue
            seen.add(lead_id)
            row = (await store.lead_rows(query.team, [lead_id]))[0]
            lead = PoolLead(lead_id, int(row.get("published_ms") or 0), row)
            if row.get("state") in ("closed", "withdrawn") and query.admits(lead, now_ms):
                found.append(listed(query.team, lead, None, now_ms))
                if len(found) == query.limit:
                    return found, before
    return found, before

