"""What the manager board sees of a team: lead and rep resources, typed audit entries, rules
and fairness, as the HTTP API shows them (server/floor/resources.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from server.floor.arbiter import Arbiter
from server.floor.resources import audit_entry, lead_resource, rep_resource
from server.floor.roster import Member
from server.floor.scoreboard import WINDOWS_MS, Report, Scoreboard
from server.store.board_reads import BoardReads, Entry

LIVE_STATES = ("open", "window", "held")
RECENT_DECISIONS = 200


def lead_view(lead_id: str, team: str, raw: Mapping[str, str]) -> dict[str, Any] | None:
    """A live lead's resource (as GET /api/leads/{id}); None once closed, withdrawn or gone."""
    if raw.get("state") not in LIVE_STATES:
        return None
    return lead_resource(lead_id, team, raw)


def rules_of(member: Member) -> dict[str, Any]:
    """A rep's effective rules, as `leadgrab check-config` prints them."""
    return {"tier": member.tier or "-", "active": member.active,
            "regions": ",".join(sorted(member.regions)),
            "skills": ",".join(sorted(member.skills)) or "-",
            **{k: v for k, v in member.limits.items()}}


def fairness_body(report: Report) -> dict[str, Any]:
    """A fairness report in the shape of GET /api/fairness."""
    reps = {rep: {**dataclasses.asdict(f), "eligible": rep in report.eligible}
            for rep, f in sorted(report.figures.reps.items())}
    return {"team": report.team, "window": report.window, "since_ms": report.since_ms,
            "until_ms": report.until_ms, "scanned": report.scanned,
            "truncated": report.truncated, "reps": reps,
            "figures": dataclasses.asdict(report.figures.team)}


class FloorView:
    """Builds the snapshot and the state attached to each batch of the feed."""

    def __init__(self, arbiter: Arbiter, reads: BoardReads, scoreboard: Scoreboard) -> None:
        self.arbiter = arbiter
        self.reads = reads
        self.scoreboard = scoreboard

    def members(self, team: str) -> list[Member]:
        return sorted((m for m in self.arbiter.roster.members.values() if m.team == team),
                      key=lambda m: m.id)

    async def reps(self, team: str, rep_ids: Iterable[str], now_ms: int) -> dict[str, Any]:
        """Each named rep's resource (as GET /api/reps/{id}): quotas, cooldown, holds,
        presence, pause and shift."""
        wanted = [m for m in self.members(team) if m.id in set(rep_ids)]
        raw = await self.reads.reps(team, [m.id for m in wanted])
        online = await self.reads.online(team)
        today = await self.arbiter.local_day(team, now_ms)
        version = self.arbiter.roster.versions.get(team, 0)
        return {m.id: rep_resource(m, raw[m.id]["state"], raw[m.id]["held"],
                                   online=online.get(m.id, 0), now_ms=now_ms, today=today,
                                   rules_version=version)
                for m in wanted}

    async def shift_changes(self, team: str, known: dict[str, bool]) -> list[dict[str, Any]]:
        """A `shift` message per rep whose working hours began or ended since last asked."""
        now_ms = await self.arbiter.now_ms()
        changes = []
        for m in self.members(team):
            on = m.on_shift(now_ms)
            if known.get(m.id, on) != on:
                changes.append({"type": "shift", "team": team, "rep": m.id, "on_shift": on,
                                "ts": now_ms})
            known[m.id] = on
        return changes

    async def leads(self, team: str, lead_ids: Iterable[str]) -> dict[str, Any]:
        """Each named lead's live view (null once finished)."""
        raw = await self.reads.leads(team, lead_ids)
        return {lead_id: lead_view(lead_id, team, fields) for lead_id, fields in raw.items()}

    async def fairness(self, team: str) -> dict[str, Any]:
        return {w: fairness_body(await self.scoreboard.report(team, w)) for w in WINDOWS_MS}

    async def snapshot(self, team: str) -> dict[str, Any]:
        """The team's floor now, and the cursor its feed continues from (read first, so
        nothing between the cursor and the reads is lost: replayed entries carry state)."""
        cursor = await self.reads.last_ids(team)
        now_ms = await self.arbiter.now_ms()
        members = self.members(team)
        reps = await self.reps(team, [m.id for m in members], now_ms)
        held = {lead for rep in reps.values() for lead in rep["held"]}
        ids = held | await self.reads.open_lead_ids(team)
        leads = {k: v for k, v in (await self.leads(team, ids)).items() if v is not None}
        # the feed's own entries up to the cursor: what follows comes as events, once
        recent = await self.reads.recent(team, RECENT_DECISIONS, until=cursor["audit"])
        presence = await self.reads.recent(team, RECENT_DECISIONS, True, cursor["presence"])
        return {"type": "snapshot", "team": team, "cursor": cursor, "server_time_ms": now_ms,
                "rules_version": self.arbiter.roster.versions.get(team, 0),
                "rules": {m.id: rules_of(m) for m in members}, "reps": reps, "leads": leads,
                "decisions": [entry_json(e) for e in recent],
                "presence": [entry_json(e) for e in presence],
                "fairness": await self.fairness(team)}

    async def batch(self, team: str, audit: list[Entry], presence: list[Entry]
                    ) -> dict[str, Any]:
        """A batch of feed entries with the current state of every lead and rep they name."""
        if any(f.get("action") == "rules_loaded" for _, f in audit):
            await self.arbiter.refresh_roster()  # the entry may beat this process's reload
        now_ms = await self.arbiter.now_ms()
        rows = audit + presence
        lead_ids = {f["lead"] for _, f in rows if f.get("lead")}
        rep_ids = {f["rep"] for _, f in rows if f.get("rep")}
        rep_ids |= {f["prev"] for _, f in audit if f.get("prev")}
        message: dict[str, Any] = {
            "type": "events", "team": team, "server_time_ms": now_ms,
            "entries": [entry_json(e) for e in audit],
            "presence": [entry_json(e) for e in presence],
            "leads": await self.leads(team, lead_ids),
            "reps": await self.reps(team, rep_ids, now_ms)}
        if any(f.get("action") == "rules_loaded" for _, f in audit):
            message["rules_version"] = self.arbiter.roster.versions.get(team, 0)
            message["rules"] = {m.id: rules_of(m) for m in self.members(team)}
        return message


def entry_json(entry: Entry) -> dict[str, Any]:
    """An audit or presence stream entry, typed as the audit API shows it (with its id)."""
    return audit_entry(*entry)
