"""The arbitration API: publish, claim, release and close, each one atomic script in Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from typing import Any

from server.config import Config, TeamConfig
from server.contracts.reasons import Outcome, Reason
from server.contracts.results import (
    ActionResult,
    ClaimResult,
    Done,
    PublishResult,
    RulesLoad,
    Settlement,
)
from server.contracts.statuses import Status
from server.contracts.timer_members import TimerMember
from server.floor.lead import NewLead
from server.floor.pool import Keep, LeadQuery, PoolLead, browse, scan
from server.floor.return_offers import offers_on_return
from server.floor.roster import Member, Roster, roster_from_hashes
from server.floor.rules import local_midnights, team_digest, team_reps, tier_overrides
from server.shifts import intervals
from server.store.board_reads import BoardReads
from server.store.store import Backlog, Entry, Store

DAYS_BEFORE = 7
DAYS_AFTER = 400
SHIFT_DAYS_AFTER = 45  # shift tables are refreshed on every rules load and daily


class Arbiter:
    """Decides claims for every team; the rules it enforces are the ones loaded into Redis."""

    def __init__(self, store: Store, config: Config) -> None:
        self.store = store
        self.config = config
        self.roster = Roster({}, {})

    async def apply_rules(self, config: Config) -> list[RulesLoad]:
        """Load every team's effective rules into Redis (atomic per team), then re-read them."""
        now_ms = await self.now_ms()
        loads = [await self._load_team(config, team, now_ms) for team in config.teams]
        self.config = config
        await self.refresh_roster()
        return loads

    async def _load_team(self, config: Config, team: str, now_ms: int) -> RulesLoad:
        settings = config.teams[team]
        tiers = tier_overrides(await self.store.tier_fields(team))  # earned or pinned tiers
        day_rows = local_midnights(settings.timezone, now_ms, DAYS_BEFORE, DAYS_AFTER)
        rep_rows = [(rep.id, rep.to_json(), json.dumps(intervals(
            rep.rules.shifts, settings.timezone, now_ms, 1, SHIFT_DAYS_AFTER)))
            for rep in team_reps(config, team, tiers)]
        return await self.store.load_rules(
            team, team_digest(config, team, tiers), settings.model_dump_json(), day_rows, rep_rows
        )

    async def refresh_roster(self) -> Roster:
        """Re-read the rules every team enforces now (after any instance reloaded them)."""
        hashes = {team: await self.store.rules_hash(team) for team in self.config.teams}
        self.roster = roster_from_hashes(hashes)
        return self.roster

    async def refresh_tables(self) -> None:
        """Rewrite the day and shift tables (they look ahead a bounded time) from the rules in
        Redis, never from this process's config file: another instance may have loaded newer."""
        now_ms = await self.now_ms()
        await self.refresh_roster()
        for team, settings in self.roster.teams.items():
            reps = [m for m in self.roster.members.values() if m.team == team]
            day_rows = local_midnights(settings.timezone, now_ms, DAYS_BEFORE, DAYS_AFTER)
            rep_rows = [(m.id, "", json.dumps(intervals(tuple(m.limits.get("shifts") or ()),
                                                        settings.timezone, now_ms, 1,
                                                        SHIFT_DAYS_AFTER))) for m in reps]
            await self.store.load_rules(team, "", "", day_rows, rep_rows)

    def team(self, name: str) -> TeamConfig:
        """A team's settings as loaded into Redis (every instance agrees), else as configured."""
        return self.roster.teams.get(name) or self.config.teams[name]

    async def rules_changed(self) -> bool:
        """Whether any team's rules version in Redis differs from the roster's."""
        for team in self.config.teams:
            if await self.store.rules_version(team) != self.roster.versions.get(team, 0):
                return True
        return False

    async def now_ms(self) -> int:
        """Redis time (or the test clock), never this host's clock."""
        return await self.store.now_ms()

    async def redis_time_ms(self) -> int:
        """Redis time even when a test clock drives the scripts (stream ids are Redis time)."""
        return await self.store.redis_time_ms()

    async def local_day(self, team: str, now_ms: int) -> str | None:
        """The team's local calendar date at `now_ms`, from the table the scripts use."""
        return await self.store.local_day(team, now_ms)

    async def publish(self, lead: NewLead, actor: str) -> PublishResult:
        """Publish a lead once; a known id returns its first offer and changes nothing.

        The arbitration method (team default or value band) is fixed at publication.
        """
        team = self.team(lead.team)
        payload = json.dumps(lead.payload(*team.arbitration(lead.value)), separators=(",", ":"))
        return await self.store.publish(lead.team, lead.id, payload, actor,
                                        policy_json(team, lead.value), lead.customer_id)

    async def followup(self, rep_id: str, lead_id: str, note: str) -> ActionResult:
        """The holder records progress: the follow-up deadline is met, max-hold restarts."""
        member = self.member(rep_id)
        if member is None:
            return ActionResult(lead_id, False, Reason.NOT_HOLDER)
        return await self.store.followup(member.team, rep_id, lead_id, note)

    async def auto_assign(self, team: str, timer: TimerMember) -> Done:
        """Fire an 'auto:' timer: assign the lead by the team's policy if still unclaimed."""
        policy = self.team(team).assign_policy
        return await self.store.auto_assign(team, timer.lead_id, policy, self.team_reps(team))

    async def fire_deadline(self, team: str, timer: TimerMember) -> Done:
        """Fire a 'warn:' or 'deadline:' timer: warn the holder or recycle the lead."""
        return await self.store.fire_deadline(team, timer)

    async def offer(self, team: str, timer: TimerMember) -> Done:
        """Fire an 'open:' or 'stage:' timer: offer the lead to its next audience."""
        return await self.store.offer(team, timer)

    def team_reps(self, team: str) -> list[str]:
        """The ids of the team's reps on the roster in force."""
        return [m.id for m in self.roster.members.values() if m.team == team]

    async def dispatch(self, lead_team: str, lead_id: str, rep_id: str, actor: str, *,
                       force: bool, reason: str) -> Done:
        """A manager assigns (or, with a reason, reassigns) a lead to a rep of its team."""
        member = self.member(rep_id)
        if member is None or member.team != lead_team:
            return Done(Status.REJECTED, Reason.INELIGIBLE)
        return await self.store.dispatch(lead_team, lead_id, rep_id, actor, force=force,
                                         reason=reason)

    async def withdraw(self, team: str, lead_id: str, actor: str, reason: str) -> Done:
        """A manager takes a lead off the floor."""
        return await self.store.withdraw(team, lead_id, actor, reason)

    async def pause(self, rep_id: str, paused: bool, actor: str) -> Done:
        """Pause (out of office) or resume a rep."""
        member = self.member(rep_id)
        if member is None:
            return Done(Status.REJECTED, Reason.INELIGIBLE)
        return await self.store.pause(member.team, rep_id, paused, actor)

    async def paused_reps(self, team: str) -> set[str]:
        """The team's reps paused now (read at start-up; the events stream keeps it current)."""
        return await self.store.paused_reps(team, self.team_reps(team))

    async def settle(self, team: str, lead_id: str) -> Settlement:
        """Settle a due claim window (idempotent: only the first caller does anything)."""
        return await self.store.settle(team, lead_id)

    async def due_timers(self, team: str, limit: int = 100) -> list[str]:
        """Timers of a team that are due now (Redis time), oldest first."""
        return await self.store.due_timers(team, await self.now_ms(), limit)

    def claim(self, rep_id: str, lead_id: str, req_id: str) -> asyncio.Future[ClaimResult]:
        """Decide a claim; an unknown rep is rejected as ineligible without touching Redis.
        The store's future itself, not a coroutine awaiting it: no layer on every claim."""
        member = self.roster.get(rep_id)
        if member is None:
            answered: asyncio.Future[ClaimResult] = asyncio.get_running_loop().create_future()
            answered.set_result(ClaimResult(lead_id, req_id, Outcome.REJECTED,
                                            Reason.INELIGIBLE))
            return answered
        return self.store.claim(member.team, rep_id, lead_id, req_id)

    async def release(self, rep_id: str, lead_id: str) -> ActionResult:
        """The holder gives a lead back; it is offered to the team again."""
        member = self.member(rep_id)
        if member is None:
            return ActionResult(lead_id, False, Reason.NOT_HOLDER)
        return await self.store.release(member.team, rep_id, lead_id)

    async def close(self, rep_id: str, lead_id: str, outcome: str) -> ActionResult:
        """The holder closes a lead as won or lost, freeing the quota slot."""
        member = self.member(rep_id)
        if member is None:
            return ActionResult(lead_id, False, Reason.NOT_HOLDER)
        return await self.store.close(member.team, rep_id, lead_id, outcome)

    def member(self, rep_id: str) -> Member | None:
        """A rep as the rules in force describe them, or None."""
        return self.roster.get(rep_id)

    async def lead_state(self, team: str, lead_id: str, audit_count: int = 100) -> dict[str, Any]:
        """A lead's stored state and its audit trail ({} if unknown)."""
        fields = await self.store.lead_fields(team, lead_id)
        if not fields:
            return {}
        trail = await self.store.audit_trail(team, lead_id, audit_count)
        return {"lead": fields, "audit": trail}

    async def rep_state(self, rep_id: str) -> dict[str, Any]:
        """A rep's quota and cooldown state as Redis holds it ({} if unknown)."""
        member = self.member(rep_id)
        if member is None:
            return {}
        fields = await self.store.rep_fields(member.team, rep_id)
        return {"rep": rep_id, "team": member.team, **fields,
                "limits": dict(member.limits), "rules_version": member_version(self, member)}

    def board_reads(self) -> BoardReads:
        """The board's reads of the floor (state views, the audit and presence streams)."""
        return BoardReads(self.store)

    async def browse_pool(self, query: LeadQuery, viewer: Member | None,
                          reps: list[str]) -> tuple[list[dict[str, Any]], str | None]:
        """A page of a team's pool for a rep (`viewer`) or a manager (None), and its cursor."""
        return await browse(self.store, query, viewer, reps, await self.now_ms())

    async def open_leads(self, team: str, keep: Keep, limit: int) -> list[PoolLead]:
        """Up to `limit` of a team's open leads that `keep` admits, newest first."""
        leads, _ = await scan(self.store, team, keep, limit)
        return leads

    async def offers_on_return(self, member: Member, since_ms: int, until_ms: int,
                               skip: Collection[str], limit: int) -> list[PoolLead]:
        """The open leads a rep coming back is offered (floor/return_offers.py)."""
        return await offers_on_return(self.store, member, since_ms, until_ms, skip, limit)

    async def answering(self) -> None:
        """Raise StoreError unless Redis answers for every configured team."""
        await self.store.answering(list(self.config.teams))

    async def held_counts(self, team: str, reps: list[str]) -> list[int]:
        """How many leads each of `reps` holds now."""
        return await self.store.held_counts(team, reps)

    async def audit_range(self, team: str, start: str, end: str, count: int) -> list[Entry]:
        """Up to `count` of the team's audit entries between XRANGE bounds, oldest first."""
        return await self.store.audit_range(team, start, end, count)

    async def events_head(self, team: str) -> str:
        """Where the team's events stream ends now ('0-0' when empty)."""
        return await self.store.events_head(team)

    async def events_backlog(self, team: str, resume: str, page: int) -> Backlog:
        """The team's events after `resume`, for a reconnecting rep."""
        return await self.store.events_backlog(team, resume, page)

    async def audit_cut_ms(self, team: str) -> int | None:
        """Where trimming cut the team's audit stream (None: nothing trimmed yet)."""
        return await self.store.audit_cut_ms(team)


def member_version(arbiter: Arbiter, member: Member) -> int:
    """The rules version the member's team is on."""
    return arbiter.roster.versions.get(member.team, 0)


def policy_json(team: TeamConfig, value: float) -> str:
    """What publish_lead.lua needs of the team's floor policies for a lead of this value."""
    release = team.release
    stages = None
    if release is not None and value >= release.min_value:
        stages = [{"tiers": list(s.tiers), "after_ms": s.after_ms} for s in release.stages]
    return json.dumps({
        "stages": stages, "owner_window_ms": team.owner_window_ms,
        "auto_assign_after_ms": team.auto_assign_after_ms, "assign_policy": team.assign_policy,
    })
