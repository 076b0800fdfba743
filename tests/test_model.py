"""Random operation sequences on real Redis, checked step by step against a plain-Python model."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from server.config import parse_config
from server.floor.arbiter import Arbiter
from server.floor.lead import NewLead
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock
from tests.conftest import LIMITS

HOUR_MS = 3_600_000
CONFIG = """
[teams.north]
timezone = "{zone}"

[teams.north.rules]
max_open = 1
max_daily = 2
cooldown_after_claim_ms = 1000
penalty_cooldown_ms = 0

[tiers.gold]
rules = {{ max_open = 2, cooldown_after_claim_ms = 0 }}

[[reps]]
id = "ann"
team = "north"
tier = "gold"
skills = ["solar", "wind"]

[[reps]]
id = "bob"
team = "north"
regions = ["north"]

[[reps]]
id = "cat"
team = "north"
active = false

[[reps]]
id = "dan"
team = "north"
regions = ["north", "east"]
skills = ["solar"]
rules = {{ max_daily = 1, cooldown_after_claim_ms = 5000 }}
"""


@dataclass(frozen=True)
class Rules:
    """A rep's effective rules, written out by hand (independent of server.floor.rules)."""

    active: bool
    regions: frozenset[str]
    skills: frozenset[str]
    max_open: int
    max_daily: int
    cooldown_ms: int


RULES = {
    "ann": Rules(True, frozenset({"*"}), frozenset({"solar", "wind"}), 2, 2, 0),
    "bob": Rules(True, frozenset({"north"}), frozenset(), 1, 2, 1000),
    "cat": Rules(False, frozenset({"*"}), frozenset(), 1, 2, 1000),
    "dan": Rules(True, frozenset({"north", "east"}), frozenset({"solar"}), 1, 1, 5000),
}
REPS = [*RULES, "zed"]  # zed is in no roster
# Weighted towards reps who can win most leads, so quotas and cooldowns get reached.
CLAIMERS = st.sampled_from(["ann", "ann", "ann", "bob", "dan", "dan", "cat", "zed"])
ZONES = ["Europe/Berlin", "America/New_York"]
ANCHORS_MS = [
    int(datetime(*parts, tzinfo=UTC).timestamp() * 1000) for parts in (
        (2027, 1, 4, 9),
        (2027, 3, 13, 18),  # New York springs forward on the 14th
        (2027, 3, 27, 18),  # Berlin springs forward on the 28th
        (2027, 10, 30, 18),  # Berlin falls back on the 31st
        (2027, 11, 6, 18),  # New York falls back on the 7th
    )
]
Reply = tuple[str, str | None, int | None]
# What the audit stream should say about each decision: rep, lead, result, reason, retry, note.
AuditRow = tuple[str, str, str, str | None, str | None, str | None]


@dataclass
class Lead:
    region: str
    skills: frozenset[str]
    state: str = "open"
    holder: str = ""


@dataclass
class Model:
    """The documented claim rules (order as in lua/claim_lead.lua's header), in plain Python."""

    zone: ZoneInfo
    now: int
    leads: dict[str, Lead] = field(default_factory=dict)
    held: dict[str, set[str]] = field(default_factory=lambda: {r: set() for r in RULES})
    rep_state: dict[str, dict[str, str]] = field(default_factory=dict)
    # stored answers by (rep, req_id, lead): a req_id counts per lead
    replies: dict[tuple[str, str, str], Reply] = field(default_factory=dict)
    decisions: list[AuditRow] = field(default_factory=list)

    def local_day(self) -> tuple[str, int]:
        """Today's local date and the UTC ms of the next local midnight."""
        today = datetime.fromtimestamp(self.now / 1000, self.zone).date()
        nxt = today + timedelta(days=1)
        midnight = datetime(nxt.year, nxt.month, nxt.day, tzinfo=self.zone)
        return today.isoformat(), int(midnight.timestamp() * 1000)

    def publish(self, lead_id: str, region: str, skills: frozenset[str]) -> bool:
        if lead_id in self.leads:
            return False
        self.leads[lead_id] = Lead(region, skills)
        return True

    def claim(self, rep: str, lead_id: str, req: str) -> Reply:
        if rep not in RULES:
            return ("rejected", "ineligible", None)
        if (rep, req, lead_id) in self.replies:
            event("claim replayed")
            return self.replies[(rep, req, lead_id)]
        lead = self.leads.get(lead_id)
        was_holder = lead is not None and lead.state == "held" and lead.holder == rep
        reply = self.replies[(rep, req, lead_id)] = self.decide(rep, lead_id)
        result, reason, retry_ms = reply
        note = "already_holder" if was_holder and result == "won" else None
        self.decisions.append((rep, lead_id, result, reason,
                               str(retry_ms) if retry_ms else None, note))
        return reply

    def decide(self, rep: str, lead_id: str) -> Reply:
        lead, rules = self.leads.get(lead_id), RULES[rep]
        if lead is None:
            return ("rejected", "not_found", None)
        if lead.state == "closed":
            return ("rejected", "closed", None)
        if not self.eligible(rules, lead):
            return ("rejected", "ineligible", None)
        if lead.state == "held":
            event(f"claim on a held lead by {'holder' if lead.holder == rep else 'other'}")
            return ("won", None, None) if lead.holder == rep else ("lost", None, None)
        return self.limits(rep, rules) or self.win(rep, rules, lead_id)

    @staticmethod
    def eligible(rules: Rules, lead: Lead) -> bool:
        covered = not lead.region or "*" in rules.regions or lead.region in rules.regions
        return rules.active and covered and lead.skills <= rules.skills

    def limits(self, rep: str, rules: Rules) -> Reply | None:
        state = self.rep_state.get(rep, {})
        cooldown_until = int(state.get("cooldown_until_ms", 0))
        if self.now < cooldown_until:
            return ("rejected", "cooldown", cooldown_until - self.now)
        if len(self.held[rep]) >= rules.max_open:
            return ("rejected", "quota_open", None)
        today, next_midnight = self.local_day()
        count = int(state["day_count"]) if state.get("day") == today else 0
        if count >= rules.max_daily:
            return ("rejected", "quota_daily", next_midnight - self.now)
        return None

    def win(self, rep: str, rules: Rules, lead_id: str) -> Reply:
        today, _ = self.local_day()
        state = self.rep_state.get(rep, {})
        count = int(state["day_count"]) if state.get("day") == today else 0
        self.rep_state[rep] = {"day": today, "day_count": str(count + 1),
                               "cooldown_until_ms": str(self.now + rules.cooldown_ms)}
        self.leads[lead_id].state, self.leads[lead_id].holder = "held", rep
        self.held[rep].add(lead_id)
        return ("won", None, None)

    def give_back(self, rep: str, lead_id: str, new_state: str) -> tuple[bool, str | None]:
        """Release (new_state open) or close: only the holder may."""
        lead = self.leads.get(lead_id)
        if rep in RULES and lead is None:
            return (False, "not_found")
        if rep in RULES and lead is not None and lead.state == "closed":
            return (False, "closed")
        if lead is None or lead.state != "held" or lead.holder != rep:
            return (False, "not_holder")
        lead.state = new_state
        lead.holder = rep if new_state == "closed" else ""  # a closed lead keeps its holder
        self.held[rep].discard(lead_id)
        return (True, None)

    def holding(self, index: int) -> tuple[str, str] | None:
        """The index-th (rep, lead) held now, cycling; None when nothing is held."""
        pairs = sorted((rep, lead) for rep, leads in self.held.items() for lead in leads)
        return pairs[index % len(pairs)] if pairs else None


LEADS = st.integers(0, 7).map(lambda n: f"L{n}")  # L7 is never published
REQS = st.integers(0, 50).map(lambda n: f"q{n}")
OUTCOMES = st.sampled_from(["won", "lost"])
# Mostly leads everyone may take, so races, quotas and cooldowns are reached often.
REGIONS = st.sampled_from(["", "", "", "north", "east", "west"])
SKILLS = st.sampled_from([frozenset(), frozenset(), frozenset(), frozenset({"solar"}),
                          frozenset({"wind"}), frozenset({"solar", "wind"})])
ADVANCE_MS = st.one_of(st.sampled_from([0, 1, 999, 1000, 4999, 5000]),
                       st.integers(0, 6 * HOUR_MS), st.integers(20 * HOUR_MS, 26 * HOUR_MS))
# (weight, operation). The *_held operations pick a lead somebody holds at run time, so
# releases, closes, re-claims by the holder and claims on a taken lead are common, not luck.
WEIGHTED = [
    (8, st.tuples(st.just("claim"), CLAIMERS, LEADS, REQS)),
    (2, st.tuples(st.just("claim_held"), st.integers(0, 10), CLAIMERS, REQS)),
    (1, st.tuples(st.just("burst"), CLAIMERS, REQS)),
    (1, st.tuples(st.just("retry"), st.integers(0, 1000))),
    (2, st.tuples(st.just("publish"), st.integers(0, 6).map(lambda n: f"L{n}"), REGIONS,
                  SKILLS)),
    (1, st.tuples(st.just("release"), st.sampled_from(REPS), LEADS)),
    (1, st.tuples(st.just("close"), st.sampled_from(REPS), LEADS, OUTCOMES)),
    (3, st.tuples(st.just("release_held"), st.integers(0, 10))),
    (1, st.tuples(st.just("close_held"), st.integers(0, 10), OUTCOMES)),
    (2, st.tuples(st.just("advance"), ADVANCE_MS)),
    (1, st.tuples(st.just("midnight"), st.sampled_from([-1, 0, 1]))),
]
# sampled_from keeps duplicates (one_of would merge equal strategies), so weights hold.
OPS = st.sampled_from([strategy for weight, strategy in WEIGHTED for _ in range(weight)]).flatmap(
    lambda strategy: strategy)


class Runner:
    """Applies each operation to Redis (through the arbiter) and to the model, and compares."""

    def __init__(self, arbiter: Arbiter, model: Model, clock: ManualClock) -> None:
        self.arbiter, self.model, self.clock = arbiter, model, clock
        self.claims: list[tuple[str, str, str]] = []

    async def apply(self, op: tuple[Any, ...]) -> None:
        handler = getattr(self, f"op_{op[0]}")
        await handler(*op[1:])

    async def op_publish(self, lead_id: str, region: str, skills: frozenset[str]) -> None:
        lead = NewLead(id=lead_id, team="north", region=region, skills=tuple(sorted(skills)))
        result = await self.arbiter.publish(lead, "test")
        assert result.created == self.model.publish(lead_id, region, skills)

    async def op_claim(self, rep: str, lead_id: str, req: str) -> None:
        self.claims.append((rep, lead_id, req))
        got = await self.arbiter.claim(rep, lead_id, req)
        reason = got.reason.value if got.reason else None
        actual = (got.result.value, reason, got.retry_after_ms)
        expected = self.model.claim(rep, lead_id, req)
        assert actual == expected, f"claim {rep} {lead_id} {req} at {self.clock.now_ms}"
        event(f"claim {actual[0]} {actual[1] or ''}")

    async def op_release_held(self, index: int) -> None:
        if pair := self.model.holding(index):
            await self.op_release(*pair)

    async def op_close_held(self, index: int, outcome: str) -> None:
        if pair := self.model.holding(index):
            await self.op_close(*pair, outcome)

    async def op_claim_held(self, index: int, rep: str, req: str) -> None:
        """Some rep (sometimes the holder itself) claims a lead that is held."""
        if pair := self.model.holding(index):
            await self.op_claim(rep, pair[1], req)

    async def op_burst(self, rep: str, req: str) -> None:
        """One rep grabs at every lead in a row: cooldowns and quotas bite."""
        for n in range(8):
            await self.op_claim(rep, f"L{n}", f"{req}-{n}")

    async def op_retry(self, index: int) -> None:
        if self.claims:
            await self.op_claim(*self.claims[index % len(self.claims)])

    async def op_release(self, rep: str, lead_id: str) -> None:
        got = await self.arbiter.release(rep, lead_id)
        reason = got.reason.value if got.reason else None
        assert (got.ok, reason) == self.model.give_back(rep, lead_id, "open")
        event(f"release {reason or 'ok'}")

    async def op_close(self, rep: str, lead_id: str, outcome: str) -> None:
        got = await self.arbiter.close(rep, lead_id, outcome)
        reason = got.reason.value if got.reason else None
        assert (got.ok, reason) == self.model.give_back(rep, lead_id, "closed")
        event(f"close {reason or 'ok'}")

    async def op_advance(self, ms: int) -> None:
        self.set_now(self.model.now + ms)

    async def op_midnight(self, offset_ms: int) -> None:
        self.set_now(self.model.local_day()[1] + offset_ms)

    def set_now(self, now_ms: int) -> None:
        self.clock.now_ms = self.model.now = now_ms


def audit_retry(fields: dict[str, str]) -> str | None:
    """retry_after_ms as audited; '0' (waiting would not help) counts as none."""
    value = fields.get("retry_after_ms")
    return None if value in (None, "0") else value


async def compare_state(redis: Redis, model: Model) -> None:
    for rep in RULES:
        assert await redis.smembers(keys.held("north", rep)) == model.held[rep], rep
        assert await redis.hgetall(keys.rep_state("north", rep)) == model.rep_state.get(rep, {})
    for lead_id, lead in model.leads.items():
        state = await redis.hmget(keys.lead("north", lead_id), "state", "holder")
        assert state == [lead.state, lead.holder], lead_id
    audit = await redis.xrange(keys.audit("north"))
    claims = [(f["rep"], f["lead"], f["result"], f.get("reason"), audit_retry(f),
               f.get("note")) for _, f in audit if f["action"] == "claim"]
    assert claims == model.decisions


async def run_example(redis_url: str, zone: str, start_ms: int, ops: list[tuple[Any, ...]],
                      first_leads: list[tuple[str, frozenset[str]]]) -> None:
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.flushdb()
        clock = ManualClock(now_ms=start_ms)
        config = parse_config(CONFIG.format(zone=zone))
        arbiter = Arbiter(Store(client, LIMITS, clock), config)
        await arbiter.apply_rules(config)
        runner = Runner(arbiter, Model(ZoneInfo(zone), start_ms), clock)
        for n, (region, skills) in enumerate(first_leads):
            await runner.op_publish(f"L{n}", region, skills)
        for op in ops:
            await runner.apply(op)
        await compare_state(client, runner.model)
    finally:
        await client.aclose()


# A pass takes seconds. On a failure Hypothesis shrinks for up to 300 s; a 60 s timeout
# would cut into that and be reported as a FlakyFailure hiding the real assertion.
@pytest.mark.timeout(330)
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    zone=st.sampled_from(ZONES),
    start_ms=st.builds(lambda a, d: a + d, st.sampled_from(ANCHORS_MS),
                       st.integers(0, 36 * HOUR_MS)),
    first_leads=st.lists(st.tuples(REGIONS, SKILLS), min_size=4, max_size=7),
    ops=st.lists(OPS, min_size=20, max_size=80),
)
def test_claims_match_the_model(redis_url: str, zone: str, start_ms: int,
                                first_leads: list[tuple[str, frozenset[str]]],
                                ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(run_example(redis_url, zone, start_ms, ops, first_leads))
