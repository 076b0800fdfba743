"""Re-runs a recorded audit's inputs through the real scripts on a private embedded Redis."""

from __future__ import annotations

import heapq
import json
import time
from dataclasses import dataclass, field

from server.config import Config
from server.contracts.audit_fields import AuditAction, AuditField
from server.contracts.reasons import Outcome
from server.contracts.timer_members import TimerKind
from server.floor.arbiter import Arbiter
from server.floor.lead import NewLead
from server.floor.timers import Timers
from server.replay import outcome_inputs
from server.replay.due_timers import SCHEDULE_PAGE, DueTimers
from server.replay.firings import MAX_LAG_MS, NEVER, Firings, Key
from server.replay.guesses import Guesses
from server.replay.record import Fields, Record, RecordError
from server.replay.recorded_rules import RecordedRules
from server.replay.sandbox import Clock, Seeds, private_redis
from server.replay.shared_runs import Diverged, run_inputs, take_run
from server.store.replay_store import ReplayStore
from server.store.store import Retention, Store

A = AuditAction
RETENTION = Retention(events_maxlen=1000, audit_maxlen=100_000_000, request_ttl_ms=86_400_000)
RETRIES = 3  # --retry-rejected: retries of one rejected attempt at most
PAGE = 10_000
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
    reads: int = 0  # plain reads sent (round trips besides the scripts' own)
    shared: bool = False  # inputs shared round trips (the record held: see shared_runs)


async def replay(record: Record, team: str, config: Config | None = None,
                 retry_rejected: bool = False) -> Run:
    """Replay `record` (exactly, or with `config` in place of the recorded rules). An exact
    replay sends runs of inputs in one round trip (see shared_runs) unless it diverges."""
    if not record.steps:
        raise RecordError("the audit has no entries")
    started = time.perf_counter()
    try:
        run = await _replay(record, team, config, retry_rejected, shared=config is None)
    except Diverged:
        run = await _replay(record, team, config, retry_rejected, shared=False)
    run.seconds = time.perf_counter() - started
    return run


async def _replay(record: Record, team: str, config: Config | None, retry_rejected: bool,
                  shared: bool) -> Run:
    seeds = Seeds(Clock(record.steps[0].ts))
    async with private_redis() as url:
        store = await ReplayStore.private(url, RETENTION, seeds.clock, seeds, team,
                                         SCHEDULE_PAGE)
        try:
            started = time.perf_counter()
            driver = Driver(record, team, store, seeds, config, retry_rejected)
            await driver.run(shared)
            entries = await _audit(store, team)
            return Run(entries, driver.arbiter.team_reps(team), driver.inputs,
                       time.perf_counter() - started, store.reads, shared)
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
    due, in a poll's order: see firings), with the recorded rules versions or the given
    config."""

    def __init__(self, record: Record, team: str, store: ReplayStore, seeds: Seeds,
                 config: Config | None, retry_rejected: bool) -> None:
        self.record, self.team, self.store, self.clock = record, team, store, seeds.clock
        self.config, self.retry = config, retry_rejected
        self.rules = RecordedRules(record, team)
        self.arbiter = Arbiter(store, config or self.rules.base_config())
        self.guesses = Guesses(record, exact=config is None)
        self.due = DueTimers(store, Timers(self.arbiter, [team]), team, seeds,
                             Firings(record.fired(), record.seeds()), self.guesses)
        self.version = -1
        self.inputs = 0

    async def run(self, shared: bool) -> None:
        """Every input in order, timers in their places; with `shared`, runs of inputs
        share round trips."""
        if self.config is not None:
            await self.arbiter.apply_rules(self.config)
        else:
            await self.load_version(self.rules.first_version())
        queue = [Pending(s.ts, s.pos, 0, dict(s.fields)) for s in self.record.steps
                 if s.is_input or (self.config is None and s.action == A.RULES_LOADED)]
        heapq.heapify(queue)
        while queue:
            await self.due.fire_until((queue[0].ts, queue[0].pos, 0), defer=shared)
            if shared and await self.shared_run(queue):
                continue
            if self.due.deferred is not None:  # no run took it: alone, then look again
                await self.due.flush()
                continue
            item = heapq.heappop(queue)
            self.clock.now_ms = max(self.clock.now_ms, item.ts)
            retry = await self.apply(item)
            if retry is not None:
                heapq.heappush(queue, retry)
        last = self.record.steps[-1]
        if self.config is None:  # servers poll: a timer due just before the end may not
            self.due.quiet_until = None  # have fired by then (see firings)
            self.due.firings.unrecorded_until = last.ts - MAX_LAG_MS
        await self.due.fire_until((last.ts, last.pos + 1, 0))
        if self.config is not None:  # windows the new rules opened near the end still close
            await self.due.fire_until((NEVER, 0, 0), only=TimerKind.SETTLE)

    async def shared_run(self, queue: list[Pending]) -> bool:
        """Replay the run of inputs at the head of the queue in one round trip, if any."""
        run = take_run(queue, self.due.quiet_until,
                       lambda f: int(f.get(AuditField.RULES_VERSION) or self.version)
                       == self.version)
        if not run:
            return False
        quiet, self.due.quiet_until = self.due.quiet_until, None
        firing = self.due.fire(self.due.take_deferred(), look=False) if self.due.deferred \
            else None
        if not await run_inputs(self.store, self.clock, run, self.shared_input, firing):
            self.due.quiet_until = quiet
        self.inputs += len(run)
        return True

    async def shared_input(self, f: Fields) -> bool:
        """One input of a shared run (exact replay); True when it may have added a timer."""
        action, lead = f[AuditField.ACTION], f.get(AuditField.LEAD, "")
        rep = f.get(AuditField.REP, "")
        self.store.assume(*self.guesses.for_input(action, f))
        if action == A.CLAIM:
            done = await self.arbiter.claim(rep, lead, f.get(AuditField.REQ, ""))
            return done.result not in (Outcome.LOST, Outcome.REJECTED)
        if action == A.FOLLOWUP:
            return (await self.arbiter.followup(rep, lead, f.get(AuditField.NOTE, ""))).ok
        await self._act(action, f)
        return action == A.PUBLISH

    async def load_version(self, version: int) -> None:
        """Load a recorded rules version as load_rules.lua kept it."""
        await self.rules.load(self.store, self.arbiter, self.clock.now_ms, version)
        self.version = version

    async def apply(self, item: Pending) -> Pending | None:
        """Run one input through the arbiter as the server would have."""
        f, action = item.fields, item.fields[AuditField.ACTION]
        if self.config is None:
            await self._recorded_rules(action, f)
        quiet, self.due.quiet_until = self.due.quiet_until, None  # a claim may keep it (see claim)
        if action == A.RULES_LOADED:
            return None
        self.inputs += 1
        self.store.assume(*self.guesses.for_input(action, f))
        if action == A.CLAIM:
            return await self.claim(item, f.get(AuditField.REP, ""), f.get(AuditField.LEAD, ""),
                                    quiet)
        await self._act(action, f)
        if action in ADD_NO_TIMER:
            self.due.quiet_until = quiet
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
                    quiet: Key | None) -> Pending | None:
        """A claim attempt (a lost or rejected one added no timer: `quiet` still holds);
        with retry_rejected, a rejection that names a wait is tried again after it (a new
        request id), up to RETRIES times."""
        req = item.fields.get(AuditField.REQ, "")
        done = await self.arbiter.claim(rep, lead, req)
        if done.result in (Outcome.LOST, Outcome.REJECTED):
            self.due.quiet_until = quiet
        wait = done.retry_after_ms or 0
        if not (self.retry and done.result is Outcome.REJECTED and wait
                and item.attempt < RETRIES):
            return None
        again = {**item.fields, AuditField.REQ.value: f"{req}~retry{item.attempt + 1}"}
        return Pending(item.ts + wait, item.pos, item.attempt + 1, again)


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
