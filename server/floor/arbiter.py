"""The arbitration API: publish, claim, release and close, each one atomic script in Redis."""

from __future__ import annotations

import json
from typing import Any

from server.config import Config, TeamConfig
from server.contracts.reasons import Outcome, Reason
from server.contracts.results import ActionResult, ClaimResult, PublishResult, RulesLoad, Settlement
from server.floor.lead import NewLead
from server.floor.roster import Member, Roster, roster_from_hashes
from server.floor.rules import local_midnights, team_digest, team_reps
from server.shifts import intervals
from server.store import keys, operations
from server.store.store import Store

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
        day_rows = local_midnights(settings.timezone, now_ms, DAYS_BEFORE, DAYS_AFTER)
        rep_rows = [(rep.id, rep.to_json(), json.dumps(intervals(
            rep.rules.shifts, settings.timezone, now_ms, 1, SHIFT_DAYS_AFTER)))
            for rep in team_reps(config, team)]
        return await self.store.load_rules(
            team, team_digest(config, team), settings.model_dump_json(), day_rows, rep_rows
        )

    async def refresh_roster(self) -> Roster:
        """Re-read the rules every team enforces now (after any instance reloaded them)."""
        hashes = {}
        for team in self.config.teams:
            hashes[team] = await self.store.call(self.store.redis.hgetall(keys.rules(team)))
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
            version = await self.store.call(self.store.redis.hget(keys.rules(team), "version"))
            if int(version or 0) != self.roster.versions.get(team, 0):
                return True
        return False

    async def now_ms(self) -> int:
        """Redis time (or the test clock), never this host's clock."""
        if self.store.clock.now_ms is not None:
            return self.store.clock.now_ms
        seconds, micros = await self.store.call(self.store.redis.time())
        return int(seconds) * 1000 + int(micros) // 1000

    async def local_day(self, team: str, now_ms: int) -> str | None:
        """The team's local calendar date at `now_ms`, from the table the scripts use."""
        rows = await self.store.call(
            self.store.redis.zrevrangebyscore(keys.days(team), now_ms, "-inf", start=0, num=1))
        return rows[0] if rows else None

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

    async def auto_assign(self, team: str, member: str) -> operations.Done:
        """Fire an 'auto:' timer: assign the lead by the team's policy if still unclaimed."""
        reps = [m.id for m in self.roster.members.values() if m.team == team]
        policy = self.team(team).assign_policy
        return await operations.auto_assign(self.store, team, member, policy, reps)

    async def dispatch(self, lead_team: str, lead_id: str, rep_id: str, actor: str, *,
                       force: bool, reason: str) -> operations.Done:
        """A manager assigns (or, with a reason, reassigns) a lead to a rep of its team."""
        member = self.member(rep_id)
        if member is None or member.team != lead_team:
            return operations.Done("rejected", Reason.INELIGIBLE)
        return await operations.dispatch(self.store, lead_team, lead_id, rep_id, actor,
                                         force=force, reason=reason)

    async def withdraw(self, team: str, lead_id: str, actor: str, reason: str) -> operations.Done:
        """A manager takes a lead off the floor."""
        return await operations.withdraw(self.store, team, lead_id, actor, reason)

    async def pause(self, rep_id: str, paused: bool, actor: str) -> operations.Done:
        """Pause (out of office) or resume a rep."""
        member = self.member(rep_id)
        if member is None:
            return operations.Done("rejected", Reason.INELIGIBLE)
        return await operations.pause(self.store, member.team, rep_id, paused, actor)

    async def paused_reps(self, team: str) -> set[str]:
        """The team's reps paused now (read at start-up; the events stream keeps it current)."""
        reps = [m.id for m in self.roster.members.values() if m.team == team]
        async with self.store.pipeline() as pipe:
            for rep in reps:
                pipe.hget(keys.rep_state(team, rep), "paused")
            flags = await pipe.execute()
        return {rep for rep, flag in zip(reps, flags, strict=True) if flag == "1"}

    async def settle(self, team: str, lead_id: str) -> Settlement:
        """Settle a due claim window (idempotent: only the first caller does anything)."""
        return await self.store.settle(team, lead_id)

    async def due_timers(self, team: str, limit: int = 100) -> list[str]:
        """Timers of a team that are due now (Redis time), oldest first."""
        now_ms = await self.now_ms()
        redis = self.store.redis
        due: list[str] = await self.store.call(
            redis.zrangebyscore(keys.timers(team), "-inf", now_ms, start=0, num=limit))
        return due

    async def claim(self, rep_id: str, lead_id: str, req_id: str) -> ClaimResult:
        """Decide a claim; an unknown rep is rejected as ineligible without touching Redis."""
        member = self.roster.get(rep_id)
        if member is None:
            return ClaimResult(lead_id, req_id, Outcome.REJECTED, Reason.INELIGIBLE)
        return await self.store.claim(member.team, rep_id, lead_id, req_id)

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
        fields = await self.store.call(self.store.redis.hgetall(keys.lead(team, lead_id)))
        if not fields:
            return {}
        trail = await self.audit_trail(team, lead_id, audit_count)
        return {"lead": fields, "audit": trail}

    async def audit_trail(self, team: str, lead_id: str, count: int) -> list[dict[str, str]]:
        """The latest `count` audit entries of one lead, oldest first."""
        redis = self.store.redis
        ids = await self.store.call(redis.lrange(keys.trail(team, lead_id), -count, -1))
        async with self.store.pipeline() as pipe:
            for entry_id in ids:
                pipe.xrange(keys.audit(team), entry_id, entry_id)
            found = await pipe.execute()
        return [{"id": rows[0][0], **rows[0][1]} for rows in found if rows]

    async def rep_state(self, rep_id: str) -> dict[str, Any]:
        """A rep's quota and cooldown state as Redis holds it ({} if unknown)."""
        member = self.member(rep_id)
        if member is None:
            return {}
        redis = self.store.redis
        state = await self.store.call(redis.hgetall(keys.rep_state(member.team, rep_id)))
        held = await self.store.call(redis.smembers(keys.held(member.team, rep_id)))
        return {"rep": rep_id, "team": member.team, "state": state, "held": sorted(held),
                "limits": dict(member.limits), "rules_version": member_version(self, member)}


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
