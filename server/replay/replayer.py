"""Re-runs a recorded audit's inputs through the real scripts on a private embedded Redis."""

from __future__ import annotations

import functools
import heapq
import json
import time
from dataclasses import dataclass, field

from server.config import Config, TeamConfig
from server.contracts.audit_fields import AuditAction, AuditField
from server.contracts.reasons import Outcome
from server.contracts.timer_members import TimerKind, TimerMemberError, parse
from server.floor.arbiter import DAYS_AFTER, DAYS_BEFORE, SHIFT_DAYS_AFTER, Arbiter
from server.floor.lead import NewLead
from server.floor.rules import local_midnights
from server.floor.timers import Timers
from server.replay import outcome_inputs
from server.replay.record import Fields, Record, RecordError
from server.replay.sandbox import Clock, Seeds, private_redis
from server.shifts import intervals
from server.store.store import Retention, Store

A = AuditAction
RETENTION = Retention(events_maxlen=1000, audit_maxlen=100_000_000, request_ttl_ms=86_400_000)
MAX_LAG_MS = 10_000  # a recorded timer firing this long after its due time still matches it
RETRIES = 3  # --retry-rejected: retries of one rejected attempt at most
PAGE = 10_000
SCHEDULE_PAGE = 32
HOLDER_ACTS = frozenset({A.FOLLOWUP, A.CLOSE, A.RELEASE})
# inputs whose scripts only ever remove timers (so nothing can fall due sooner after them)
ADD_NO_TIMER = frozenset({A.CLOSE, A.RELEASE, A.WITHDRAW, A.PAUSE, A.RESUME})


@dataclass(slots=True)
class Run:
    """What a replay produced: its own audit, the roster at the end, and how long it took."""

    entries: list[tuple[str, Fields]]
    roster: list[str]
    inputs: int
    seconds: float


async def replay(record: Record, team: str, config: Config | None = None,
                 retry_rejected: bool = False) -> Run:
    """Replay `record` (exactly, or with `config` in place of the recorded rules)."""
    if not record.steps:
        raise RecordError("the audit has no entries")
    clock = Clock(record.steps[0].ts)
    async with private_redis() as url:
        store = await Store.open(url, RETENTION, clock, seed_override=Seeds(record.seeds(), clock))
        try:
            started = time.perf_counter()
            driver = Driver(record, team, store, clock, config, retry_rejected)
            await driver.run()
            entries = await _audit(store, team)
            return Run(entries, driver.arbiter.team_reps(team), driver.inputs,
                       time.perf_counter() - started)
        finally:
            await store.aclose()


async def _audit(store: Store, team: str) -> list[tuple[str, Fields]]:
    found: list[tuple[str, Fields]] = []
    start = "-"
    while True:
        rows = await store.audit_range(team, start, "+", PAGE)
        found += rows
        if len(rows) < PAGE:
            return found
        start = "(" + rows[-1][0]


@dataclass(order=True)
class Pending:
    """An input waiting for its time (a recorded one, or a modelled retry)."""

    ts: int
    pos: int
    attempt: int
    fields: dict[str, str] = field(compare=False)


class Driver:
    """Feeds inputs at their times and fires timers when they fired in the record (else when
    due), with the recorded rules versions or the given config."""

    def __init__(self, record: Record, team: str, store: Store, clock: Clock,
                 config: Config | None, retry_rejected: bool) -> None:
        self.record, self.team, self.store, self.clock = record, team, store, clock
        self.config, self.retry = config, retry_rejected
        self.arbiter = Arbiter(store, config or self._base_config())
        self.timers = Timers(self.arbiter, [team])
        self.fired = record.fired()
        self.version = -1
        self.inputs = 0
        # no timer fires before this (ts, pos) unless a script adds one (None: look again)
        self.quiet_until: tuple[int, int] | None = None
        # past this a timer the record does not show firing may not have fired by its end
        self.unrecorded_until = 2**62

    def _base_config(self) -> Config:
        first = self._first_version()
        settings = json.loads(self._rules(first))["team"]
        stages = (settings.get("release") or {}).get("stages") or ()
        tiers: dict[str, dict[str, object]] = {
            tier: {} for stage in stages for tier in stage["tiers"] if tier != "*"}
        return Config.model_validate({"teams": {self.team: settings}, "tiers": tiers})

    def _first_version(self) -> int:
        for step in self.record.steps:
            if step.fields.get(AuditField.RULES_VERSION, "0") != "0":
                return int(step.fields[AuditField.RULES_VERSION])
        raise RecordError("no entry names a rules version: nothing to replay under")

    def _rules(self, version: int) -> str:
        if version not in self.record.rules:
            raise RecordError(f"rules version {version} is neither in the audit nor in the "
                              "rules history (replay from --redis-url, or pass --config)")
        return self.record.rules[version]

    async def run(self) -> None:
        if self.config is not None:
            await self.arbiter.apply_rules(self.config)
        else:
            await self.load_version(self._first_version())
        queue = [Pending(s.ts, s.pos, 0, dict(s.fields)) for s in self.record.steps
                 if s.is_input or (self.config is None and s.action == A.RULES_LOADED)]
        heapq.heapify(queue)
        while queue:
            item = heapq.heappop(queue)
            await self.fire_until(item.ts, item.pos)
            self.clock.now_ms = max(self.clock.now_ms, item.ts)
            retry = await self.apply(item)
            if retry is not None:
                heapq.heappush(queue, retry)
        last = self.record.steps[-1]
        if self.config is None:
            self.quiet_until, self.unrecorded_until = None, last.ts - MAX_LAG_MS
        await self.fire_until(last.ts, last.pos + 1)
        if self.config is not None:  # windows the new rules opened near the end still close
            await self.fire_until(2**62, 0, only=TimerKind.SETTLE)

    async def load_version(self, version: int) -> None:
        """Load a recorded rules version as load_rules.lua kept it."""
        rules = json.loads(self._rules(version))
        settings = TeamConfig.model_validate(rules["team"])
        now = self.clock.now_ms
        days = local_midnights(settings.timezone, now, DAYS_BEFORE, DAYS_AFTER)
        reps = [(rep_id, json.dumps(rep), json.dumps(intervals(
            tuple(rep.get("shifts") or ()), settings.timezone, now, 1, SHIFT_DAYS_AFTER)))
            for rep_id, rep in rules["reps"].items()]
        digest = self.record.digests.get(version) or f"replay-v{version}"
        await self.store.load_rules(self.team, digest, json.dumps(rules["team"]), days, reps)
        await self.arbiter.refresh_roster()
        self.version = version

    async def fire_until(self, ts: int, pos: int, only: TimerKind | None = None) -> None:
        """Fire every timer (of one kind, if given) whose firing comes before the input at
        (ts, pos). Skipped while the last look showed nothing due that soon and nothing since
        could have added a timer."""
        if only is None and self.quiet_until is not None and (ts, pos) < self.quiet_until:
            return
        done: set[tuple[str, int]] = set()
        while True:
            timers, first = await self._schedule(ts)
            best: tuple[tuple[int, int], str, int] | None = None
            for member, due in timers:
                at, kind = self._when(member, due), _timer_key(member)
                if (member, due) in done or (only is not None and (kind is None
                                                                   or kind[1] is not only)):
                    continue
                if at[1] == -1 and at[0] > self.unrecorded_until:
                    continue
                first = min(first, at)
                if at < (ts, pos) and (best is None or at < best[0]):
                    best = (at, member, due)
            if best is None:
                self.quiet_until = None if only else first
                return
            (at_ms, _), member, due = best
            done.add((member, due))
            self._consume(member, best[0])
            self.clock.now_ms = max(self.clock.now_ms, at_ms)
            await self.timers.fire_member(self.team, member)

    async def _schedule(self, ts: int) -> tuple[list[tuple[str, int]], tuple[int, int]]:
        """The earliest timers (every one due by `ts` if there are more), and the earliest
        firing any timer not among them can have."""
        timers = await self.store.timer_schedule(self.team, 2**62, SCHEDULE_PAGE)
        if len(timers) < SCHEDULE_PAGE:
            return timers, (2**62, 0)
        if timers[-1][1] > ts:
            return timers, (timers[-1][1], -1)
        return await self.store.timer_schedule(self.team, ts, 10**7), (ts + 1, -1)

    def _when(self, member: str, due: int) -> tuple[int, int]:
        """When the record says this timer fired: its first recorded firing at or after the
        due time (within MAX_LAG_MS), else the due time itself."""
        key = _timer_key(member)
        for at in self.fired.get(key, []) if key else []:
            if due <= at[0] <= due + MAX_LAG_MS:
                return at
        return due, -1

    def _consume(self, member: str, at: tuple[int, int]) -> None:
        key = _timer_key(member)
        if key and at in self.fired.get(key, []):
            self.fired[key].remove(at)

    async def apply(self, item: Pending) -> Pending | None:
        """Run one input through the arbiter as the server would have."""
        f, action = item.fields, item.fields[AuditField.ACTION]
        if self.config is None:
            await self._recorded_rules(action, f)
        quiet, self.quiet_until = self.quiet_until, None  # a claim may keep it (see claim)
        if action == A.RULES_LOADED:
            return None
        self.inputs += 1
        if action == A.CLAIM:
            return await self.claim(item, f.get(AuditField.REP, ""), f.get(AuditField.LEAD, ""),
                                    quiet)
        await self._act(action, f)
        if action in ADD_NO_TIMER:
            self.quiet_until = quiet
        return None

    async def _recorded_rules(self, action: str, f: Fields) -> None:
        wanted = f.get(AuditField.RULES_VERSION)
        if action == A.RULES_LOADED or (wanted and int(wanted) != self.version):
            await self.load_version(int(wanted or 0))

    async def _act(self, action: str, f: Fields) -> None:
        lead, rep = f.get(AuditField.LEAD, ""), f.get(AuditField.REP, "")
        if self.config is not None and action in HOLDER_ACTS:
            rep = await self._holder(lead) or rep
        actor, reason = f.get(AuditField.ACTOR, ""), f.get(AuditField.REASON, "")
        if action == A.PUBLISH:
            await self.arbiter.publish(_lead(f), actor)
        elif action == A.RELEASE:
            await self.arbiter.release(rep, lead)
        elif action == A.CLOSE:
            await self.arbiter.close(rep, lead, f.get(AuditField.OUTCOME, ""))
        elif action == A.FOLLOWUP:
            await self.arbiter.followup(rep, lead, f.get(AuditField.NOTE, ""))
        elif action in (A.DISPATCH, A.REASSIGN):
            await self.arbiter.dispatch(self.team, lead, rep, actor,
                                        force=f.get(AuditField.FORCE) == "1", reason=reason)
        elif action == A.WITHDRAW:
            await self.arbiter.withdraw(self.team, lead, actor, reason)
        elif action in (A.PAUSE, A.RESUME):
            await self.arbiter.pause(rep, action == A.PAUSE, actor)
        else:
            await outcome_inputs.act(self.arbiter, self.team, action, f)

    async def _holder(self, lead: str) -> str:
        """Who holds the lead in this replay (what-if: the holder's follow-ups, closes and
        releases follow the lead, whoever holds it under the new rules)."""
        return (await self.store.lead_fields(self.team, lead)).get("holder", "")

    async def claim(self, item: Pending, rep: str, lead: str,
                    quiet: tuple[int, int] | None) -> Pending | None:
        """A claim attempt (a lost or rejected one added no timer: `quiet` still holds);
        with retry_rejected, a rejection that names a wait is tried again after it (a new
        request id), up to RETRIES times."""
        req = item.fields.get(AuditField.REQ, "")
        done = await self.arbiter.claim(rep, lead, req)
        if done.result in (Outcome.LOST, Outcome.REJECTED):
            self.quiet_until = quiet
        wait = done.retry_after_ms or 0
        if not (self.retry and done.result is Outcome.REJECTED and wait
                and item.attempt < RETRIES):
            return None
        again = {**item.fields, AuditField.REQ.value: f"{req}~retry{item.attempt + 1}"}
        return Pending(item.ts + wait, item.pos, item.attempt + 1, again)


@functools.lru_cache(maxsize=65_536)
def _timer_key(member: str) -> tuple[str, TimerKind] | None:
    """(lead id, kind) of a timer member; None outside the grammar."""
    try:
        timer = parse(member)
    except TimerMemberError:
        return None
    return timer.lead_id, timer.kind


def _lead(f: Fields) -> NewLead:
    """The lead a publish entry recorded (its payload), to publish again."""
    if AuditField.PAYLOAD not in f:
        raise RecordError(f"publish of {f.get(AuditField.LEAD)} has no payload (recorded "
                          "before publishes kept it): this audit cannot be replayed")
    body = json.loads(f[AuditField.PAYLOAD])
    return NewLead(id=body["lead_id"], team=body["team"], value=body.get("value", 0),
                   priority=body.get("priority", 0), region=body.get("region", ""),
                   skills=tuple(body.get("skills") or ()),
                   customer_id=body.get("customer_id", ""), attrs=body.get("attrs") or {})
