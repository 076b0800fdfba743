"""A simulated working day on real Redis, its invariants checked by replaying the audit stream."""

from __future__ import annotations

import random
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from redis.asyncio import Redis

from server.config import Config, parse_config
from server.contracts.reasons import Outcome
from server.floor.arbiter import Arbiter
from server.floor.lead import NewLead
from server.floor.rules import EffectiveRep, effective_rep
from server.floor.timers import Timers
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock

ZONE = ZoneInfo("Asia/Shanghai")  # local days start at 16:00 UTC: a UTC-day bug would show
DAY = date(2027, 1, 5)  # a Tuesday
MIN = 60_000
STEP_MS = 20_000
LEADS = 500
P_CLAIM = 0.12  # per rep and step
SLOPPY = {"r05", "r11", "r16"}  # often miss their follow-ups
MORNING, AFTERNOON = (6, 14), (13, 21)
TIERS = ["gold"] * 6 + ["silver"] * 7 + [""] * 7
PAUSES = [("r02", (10, 0), True), ("r02", (11, 0), False), ("r09", (15, 0), True),
          ("r09", (15, 45), False)]


def local_ms(hour: int, minute: int = 0) -> int:
    return int(datetime.combine(DAY, time(hour, minute), ZONE).timestamp() * 1000)


def shift_of(n: int) -> tuple[int, int] | None:
    """Even reps work mornings, odd ones afternoons; r19 has no shifts (always on)."""
    return None if n == 19 else (MORNING if n % 2 == 0 else AFTERNOON)


def rep_toml(n: int) -> str:
    lines = [f'id = "r{n:02}"', 'team = "north"']
    if TIERS[n]:
        lines.append(f'tier = "{TIERS[n]}"')
    lines.append('regions = ["north"]' if n % 3 == 0 else 'regions = ["north", "south"]')
    if n == 18:
        lines.append("active = false")
    rules = {7: ["max_open = 2"], 4: ["max_daily = 4"], 6: ["max_daily = 4"]}.get(n, [])
    if shift := shift_of(n):
        rules.append(f'shifts = ["daily {shift[0]:02}:00-{shift[1]:02}:00"]')
    if rules:
        lines.append(f"rules = {{ {', '.join(rules)} }}")
    return "[[reps]]\n" + "\n".join(lines) + "\n"


def day_config() -> Config:
    team = (
        '[teams.north]\ntimezone = "Asia/Shanghai"\n'
        f"protection_period_ms = {8 * 60 * MIN}\nowner_window_ms = {10 * MIN}\n"
        f'auto_assign_after_ms = {40 * MIN}\nassign_policy = "round_robin"\n'
        'release = { min_value = 1000, stages = [{ tiers = ["gold"], after_ms = 0 }, '
        f'{{ tiers = ["silver"], after_ms = {5 * MIN} }}, '
        f'{{ tiers = ["*"], after_ms = {15 * MIN} }}] }}\n'
        f"rules = {{ max_open = 3, max_daily = 20, cooldown_after_claim_ms = {2 * MIN}, "
        f"penalty_cooldown_ms = {30 * MIN}, followup_sla_ms = {20 * MIN}, "
        f"warn_before_ms = {5 * MIN}, max_hold_ms = {120 * MIN}, "
        f"reclaim_lockout_ms = {60 * MIN} }}\n\n"
        "[tiers.gold]\nrules = { max_open = 4, max_daily = 25 }\n[tiers.silver]\n\n")
    return parse_config(team + "\n".join(rep_toml(n) for n in range(20)))


@dataclass(frozen=True)
class Lead:
    """What the CRM publishes during the day."""

    id: str
    at_ms: int
    value: float
    customer: str
    region: str


def make_leads(rng: random.Random) -> list[Lead]:
    """500 leads 05:45-20:30; over a third from a recent customer (duplicates, owners)."""
    times = sorted(rng.randint(local_ms(5, 45), local_ms(20, 30)) for _ in range(LEADS))
    customers: list[str] = []
    leads = []
    for n, at_ms in enumerate(times):
        if customers and rng.random() < 0.4:
            customer = rng.choice(customers[-60:])
        else:
            customer = "" if rng.random() < 0.1 else f"C{n:03}"
        if customer:
            customers.append(customer)
        value = rng.randint(1000, 9000) if rng.random() < 0.2 else rng.randint(50, 900)
        leads.append(Lead(f"L{n:03}", at_ms, value, customer,
                          "south" if rng.random() < 0.2 else "north"))
    return leads


class Floor:
    """The sales floor: publishes, claims, follows up, closes, pauses and dispatches."""

    def __init__(self, arbiter: Arbiter, redis: Redis, clock: ManualClock,
                 rng: random.Random, leads: list[Lead]) -> None:
        self.arbiter, self.redis, self.clock, self.rng = arbiter, redis, clock, rng
        self.reps = [f"r{n:02}" for n in range(20)]
        self.pending = deque(leads)
        self.pauses = deque(sorted((local_ms(*at), rep, on) for rep, at, on in PAUSES))
        self.pool: dict[str, None] = {}  # offered and not yet taken, as the events say
        self.plans: dict[tuple[str, str], list[tuple[int, str]]] = {}
        self.last_event = "0-0"
        self.requests = 0

    async def run(self, end_ms: int) -> None:
        timers = Timers(self.arbiter, ["north"])
        while self.now < end_ms:
            self.clock.advance(STEP_MS)
            await timers.fire_due()  # first: nothing acts on a lead past its deadline
            await self.publish_due()
            await self.pause_due()
            await self.read_events()
            await self.work_holds()
            await self.manage()
            await self.claims()

    @property
    def now(self) -> int:
        assert self.clock.now_ms is not None
        return self.clock.now_ms

    async def publish_due(self) -> None:
        while self.pending and self.pending[0].at_ms <= self.now:
            lead = self.pending.popleft()
            await self.arbiter.publish(NewLead(id=lead.id, team="north", value=lead.value,
                                               region=lead.region,
                                               customer_id=lead.customer), "crm")

    async def pause_due(self) -> None:
        while self.pauses and self.pauses[0][0] <= self.now:
            _, rep, on = self.pauses.popleft()
            assert (await self.arbiter.pause(rep, on, rep)).ok

    async def read_events(self) -> None:
        rows = await self.redis.xrange(keys.events("north"), "(" + self.last_event, "+")
        for seq, fields in rows:
            self.last_event = seq
            if fields["type"] == "lead":
                self.pool[fields["lead_id"]] = None
            elif fields["type"] in ("taken", "assigned", "withdrawn"):
                self.pool.pop(fields["lead_id"], None)

    async def holdings(self) -> list[tuple[str, str]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for rep in self.reps:
                pipe.smembers(keys.held("north", rep))
            held = await pipe.execute()
        return [(rep, lead) for rep, leads in zip(self.reps, held, strict=True)
                for lead in sorted(leads)]

    async def work_holds(self) -> None:
        held = await self.holdings()
        self.plans = {h: self.plans[h] if h in self.plans else self.plan(h[0]) for h in held}
        for (rep, lead), plan in self.plans.items():
            while plan and plan[0][0] <= self.now:
                await self.act(rep, lead, plan.pop(0)[1])

    def plan(self, rep: str) -> list[tuple[int, str]]:
        """What a rep will do with a lead they got: follow up in time, or not; close it."""
        rng, now = self.rng, self.now
        if rng.random() < 0.05:
            return [(now + rng.randint(1, 10) * MIN, "release")]
        if rng.random() > (0.35 if rep in SLOPPY else 0.9):
            return []  # misses the follow-up: the lead is recycled
        first = now + rng.randint(2, 18) * MIN
        if rng.random() < 0.15:
            return [(first, "followup")]  # then sits on it past max_hold_ms
        return [(first, "followup"), (first + rng.randint(5, 60) * MIN,
                                      rng.choice(["won", "lost"]))]

    async def act(self, rep: str, lead: str, action: str) -> None:
        if action == "release":
            await self.arbiter.release(rep, lead)
        elif action == "followup":
            await self.arbiter.followup(rep, lead, "called")
        elif action in ("won", "lost"):
            await self.arbiter.close(rep, lead, action)

    async def manage(self) -> None:
        """A manager now and then dispatches, reassigns or withdraws a lead."""
        rng = self.rng
        if self.pool and rng.random() < 0.01:
            await self.arbiter.dispatch("north", rng.choice(list(self.pool)),
                                        rng.choice(self.reps), "manager:boss", force=False,
                                        reason="")
        if self.plans and rng.random() < 0.005:
            _rep, lead = rng.choice(list(self.plans))
            await self.arbiter.dispatch("north", lead, rng.choice(self.reps), "manager:boss",
                                        force=False, reason="rebalance")
        if self.pool and rng.random() < 0.003:
            await self.arbiter.withdraw("north", rng.choice(list(self.pool)), "manager:boss",
                                        "spam")

    async def claims(self) -> None:
        for n, rep in enumerate(self.reps):
            shift = shift_of(n)
            local = datetime.fromtimestamp(self.now / 1000, ZONE).hour
            working = shift is None or shift[0] <= local < shift[1]
            if self.pool and self.rng.random() < (P_CLAIM if working else P_CLAIM / 10):
                self.requests += 1
                await self.arbiter.claim(rep, self.rng.choice(list(self.pool)),
                                         f"q{self.requests}")


def on_daily_shift(rep: EffectiveRep, local: datetime) -> bool:
    """Whether a local time falls in one of the rep's configured 'daily HH:MM-HH:MM' shifts
    (no shifts: always), read from the config independently of server/shifts.py."""
    assert all(spec.startswith("daily ") for spec in rep.rules.shifts)
    spans = [spec.split()[1].split("-") for spec in rep.rules.shifts]
    clock = local.strftime("%H:%M")
    return not spans or any(start <= clock < end for start, end in spans)


@dataclass
class Hold:
    """A rep's hold on a lead and its current deadline (None: no deadline)."""

    rep: str
    deadline: int | None
    kind: str
    warned: bool = False


@dataclass
class Facts:
    """What the audit tells about a lead at publication (value comes from the CRM's input)."""

    customer: str
    value: float
    base: int
    owner: str = ""
    owner_until: int = 0


@dataclass
class Customer:
    """A customer's owner (protection) and the rep holding its open leads."""

    owner: str = ""
    owner_until: int = 0
    holder: str = ""
    held: int = 0


@dataclass
class Replay:
    """Replays the audit stream in order and asserts the floor's invariants at every entry."""

    config: Config
    published: dict[str, Lead]
    holds: dict[str, Hold] = field(default_factory=dict)
    open: Counter[str] = field(default_factory=Counter)
    daily: Counter[tuple[str, date]] = field(default_factory=Counter)
    cooldown: dict[str, int] = field(default_factory=dict)
    locks: dict[tuple[str, str], int] = field(default_factory=dict)
    paused: set[str] = field(default_factory=set)
    customers: defaultdict[str, Customer] = field(default_factory=lambda: defaultdict(Customer))
    leads: dict[str, Facts] = field(default_factory=dict)
    stats: Counter[str] = field(default_factory=Counter)
    now: int = 0
    expect_assign: str = ""

    def __post_init__(self) -> None:
        self.reps = {r.id: effective_rep(self.config, r) for r in self.config.reps}
        self.team = self.config.teams["north"]

    def run(self, entries: list[dict[str, str]]) -> None:
        for e in entries:
            self.now = int(e["ts"])
            assert not self.expect_assign or (e["action"], e.get("lead")) == (
                "assign", self.expect_assign), f"duplicate not assigned at once: {e}"
            self.deadline_kept(e)
            self.stats[e["action"]] += 1
            getattr(self, "on_" + e["action"], lambda e: None)(e)

    def deadline_kept(self, e: dict[str, str]) -> None:
        hold = self.holds.get(e.get("lead", ""))
        if hold and hold.deadline is not None and self.now >= hold.deadline:
            assert e["action"] == "recycle", f"missed deadline {hold} not recycled before {e}"

    def finish(self, end_ms: int) -> None:
        late = {lead: h for lead, h in self.holds.items()
                if h.deadline is not None and h.deadline <= end_ms}
        assert not late, f"deadlines that never fired: {late}"

    # -- the rules a new holder must satisfy -------------------------------------------

    def rep(self, rep: str) -> EffectiveRep:
        return self.reps[rep]

    def local_day(self) -> date:
        return datetime.fromtimestamp(self.now / 1000, ZONE).date()

    def check_free(self, lead: str, e: dict[str, str]) -> None:
        assert lead not in self.holds, f"two holders at once: {self.holds[lead]} and {e}"

    def check_available(self, rep: str, lead: str, e: dict[str, str]) -> None:
        eff = self.rep(rep)
        assert eff.active and rep not in self.paused, f"inactive or paused: {e}"
        region = self.published[lead].region
        assert "*" in eff.regions or region in eff.regions, f"wrong region: {e}"
        local = datetime.fromtimestamp(self.now / 1000, ZONE)
        assert on_daily_shift(eff, local), f"off shift at {local}: {e}"

    def check_quota(self, rep: str, e: dict[str, str]) -> None:
        """Checked where a hold is won or given; a duplicate (撞单) goes to its customer's
        holder whatever their quotas (publish_lead.lua), so it may take them past max_open."""
        rules = self.rep(rep).rules
        assert self.open[rep] < rules.max_open, f"over max_open: {e}"
        assert self.daily[(rep, self.local_day())] < rules.max_daily, f"over max_daily: {e}"

    def check_lockout(self, rep: str, lead: str, e: dict[str, str]) -> None:
        customer = self.leads[lead].customer
        for what in (f"lead:{lead}", f"cust:{customer}" if customer else ""):
            assert self.locks.get((rep, what), 0) <= self.now, f"won while locked out: {e}"

    def check_released(self, rep: str, lead: str, e: dict[str, str]) -> None:
        facts, release = self.leads[lead], self.team.release
        if facts.owner == rep and self.now < facts.owner_until:
            return
        assert not facts.owner or self.now >= facts.owner_until, f"in owner window: {e}"
        if release is None or facts.value < release.min_value:
            return
        tier = self.rep(rep).tier or ""
        after = next(s.after_ms for s in release.stages if tier in s.tiers or "*" in s.tiers)
        assert self.now >= facts.base + after, f"won before the stage opened: {e}"
        self.stats["late stage win"] += after > 0

    # -- holds start and end ---------------------------------------------------------

    def start(self, rep: str, lead: str, *, counts: bool, cooldown: bool) -> None:
        rules = self.rep(rep).rules
        self.holds[lead] = self.new_deadline(Hold(rep, None, ""), rules.followup_sla_ms == 0)
        self.open[rep] += 1
        if counts:
            self.daily[(rep, self.local_day())] += 1
        if cooldown:
            self.cooldown[rep] = self.now + rules.cooldown_after_claim_ms
        if customer := self.leads[lead].customer:
            c = self.customers[customer]
            c.held = c.held + 1 if c.holder == rep else 1
            c.owner, c.owner_until, c.holder = rep, self.now + self.team.protection_period_ms, rep

    def new_deadline(self, hold: Hold, after_followup: bool) -> Hold:
        rules = self.rep(hold.rep).rules
        span, kind = rules.followup_sla_ms, "followup"
        if after_followup or span == 0:
            span, kind = rules.max_hold_ms, "max_hold"
        hold.deadline, hold.kind, hold.warned = (self.now + span if span else None), kind, False
        return hold

    def end(self, lead: str, rep: str, e: dict[str, str], *, keep_owner: bool) -> None:
        hold = self.holds.pop(lead, None)
        assert hold is not None and hold.rep == rep, f"{e} ends a hold it does not have: {hold}"
        self.open[rep] -= 1
        if customer := self.leads[lead].customer:
            c = self.customers[customer]
            if c.holder == rep:
                c.held -= 1
                if c.held <= 0:
                    c.holder, c.held = "", 0
            if not keep_owner and c.owner == rep:
                c.owner, c.owner_until = "", 0

    def lock(self, rep: str, lead: str) -> None:
        span = self.rep(rep).rules.reclaim_lockout_ms
        if span:
            self.locks[(rep, f"lead:{lead}")] = self.now + span
            if customer := self.leads[lead].customer:
                self.locks[(rep, f"cust:{customer}")] = self.now + span

    # -- one handler per audit action ------------------------------------------------

    def on_publish(self, e: dict[str, str]) -> None:
        lead, customer = e["lead"], e.get("customer", "")
        facts = self.leads[lead] = Facts(customer, self.published[lead].value, self.now)
        c = self.customers[customer] if customer else Customer()
        if c.holder:
            self.expect_assign = lead
        elif c.owner and c.owner_until > self.now and self.team.owner_window_ms:
            facts.base = facts.owner_until = self.now + self.team.owner_window_ms
            facts.owner = c.owner
            self.stats["owner_window"] += 1

    def on_assign(self, e: dict[str, str]) -> None:
        lead, rep = e["lead"], e["rep"]
        assert rep == self.customers[self.leads[lead].customer].holder, f"not the holder: {e}"
        self.expect_assign = ""
        self.check_free(lead, e)
        self.start(rep, lead, counts=False, cooldown=False)

    def on_claim(self, e: dict[str, str]) -> None:
        self.stats[f"claim {e['result']} {e.get('reason', '')}"] += 1
        lead, rep = e["lead"], e["rep"]
        if e["result"] != Outcome.WON or e.get("note") == "already_holder":
            return
        self.check_free(lead, e)
        self.check_available(rep, lead, e)
        assert self.cooldown.get(rep, 0) <= self.now, f"won while cooling down: {e}"
        self.check_lockout(rep, lead, e)
        self.check_released(rep, lead, e)
        self.check_quota(rep, e)
        self.start(rep, lead, counts=True, cooldown=True)

    def on_auto_assign(self, e: dict[str, str]) -> None:
        self.stats[f"auto_assign {e['result']}"] += 1
        if e["result"] == "ok":
            self.on_dispatch(e)  # the same checks and hold as a manager's dispatch

    def on_dispatch(self, e: dict[str, str]) -> None:
        lead, rep = e["lead"], e["rep"]
        self.check_free(lead, e)
        self.check_available(rep, lead, e)
        self.check_lockout(rep, lead, e)
        self.check_quota(rep, e)
        self.start(rep, lead, counts=True, cooldown=False)

    def on_reassign(self, e: dict[str, str]) -> None:
        self.end(e["lead"], e["prev"], e, keep_owner=False)
        self.on_dispatch(e)

    def on_warn(self, e: dict[str, str]) -> None:
        hold = self.holds.get(e["lead"])
        assert hold is not None and hold.rep == e["rep"] and not hold.warned, f"bad warn {e}"
        assert hold.deadline is not None
        assert hold.deadline - self.rep(hold.rep).rules.warn_before_ms <= self.now
        hold.warned = True

    def on_recycle(self, e: dict[str, str]) -> None:
        lead, rep = e["lead"], e["rep"]
        hold = self.holds.get(lead)
        assert hold is not None and hold.deadline is not None and self.now >= hold.deadline, (
            f"recycle without a hold past its deadline: {e}")
        assert (e["reason"], hold.warned) == (hold.kind, True), f"{e} for {hold}"
        self.stats[f"recycle {hold.kind}"] += 1
        self.end(lead, rep, e, keep_owner=False)
        penalty = self.now + self.rep(rep).rules.penalty_cooldown_ms
        self.cooldown[rep] = max(self.cooldown.get(rep, 0), penalty)
        self.lock(rep, lead)

    def on_followup(self, e: dict[str, str]) -> None:
        hold = self.holds.get(e["lead"])
        assert hold is not None and hold.rep == e["rep"], f"follow-up by a non-holder: {e}"
        self.new_deadline(hold, True)
        assert int(e["deadline_ms"]) == (hold.deadline or 0), f"{e} vs {hold}"

    def on_release(self, e: dict[str, str]) -> None:
        self.end(e["lead"], e["rep"], e, keep_owner=False)
        self.lock(e["rep"], e["lead"])

    def on_close(self, e: dict[str, str]) -> None:
        lead, rep = e["lead"], e["rep"]
        self.end(lead, rep, e, keep_owner=True)
        customer = self.leads[lead].customer
        if customer and e["outcome"] == "won":
            c = self.customers[customer]
            c.owner, c.owner_until = rep, self.now + self.team.protection_period_ms

    def on_withdraw(self, e: dict[str, str]) -> None:
        if e["lead"] in self.holds or e.get("rep"):
            self.end(e["lead"], e.get("rep", ""), e, keep_owner=False)

    def on_pause(self, e: dict[str, str]) -> None:
        self.paused.add(e["rep"])

    def on_resume(self, e: dict[str, str]) -> None:
        self.paused.discard(e["rep"])


async def test_a_working_day_keeps_every_invariant(store: Store, clock: ManualClock,
                                                   redis: Redis) -> None:
    rng, config = random.Random(20270105), day_config()
    clock.now_ms = local_ms(5, 30)
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    leads = {lead.id: lead for lead in make_leads(rng)}
    floor = Floor(arbiter, redis, clock, rng, list(leads.values()))
    await floor.run(END_MS)
    entries = [fields for _, fields in await redis.xrange(keys.audit("north"))]
    replay = Replay(config, leads)
    replay.run(entries)
    replay.finish(END_MS)
    held = {lead: rep for rep, lead in await floor.holdings()}
    assert {lead: h.rep for lead, h in replay.holds.items()} == held  # audit agrees with state
    assert_busy_day(replay.stats)
    assert_checker_catches(config, leads, entries)


END_MS = local_ms(22, 30)
EXERCISED = ["assign", "owner_window", "dispatch", "reassign", "withdraw", "release",
             "recycle followup", "recycle max_hold", "late stage win", "claim lost ",
             *(f"claim rejected {r}" for r in ("cooldown", "quota_open", "quota_daily",
                                               "not_open", "locked_out", "ineligible"))]


def assert_busy_day(stats: Counter[str]) -> None:
    """The day really pushed against every rule the replay checks."""
    assert stats["publish"] == LEADS and stats["pause"] == 2
    assert stats["claim won "] > 100 and stats["auto_assign ok"] > 50
    assert all(stats[name] > 0 for name in EXERCISED), {n: stats[n] for n in EXERCISED}


def assert_checker_catches(config: Config, leads: dict[str, Lead],
                           entries: list[dict[str, str]]) -> None:
    """Broken copies of the day's audit fail the replay: the checks are not vacuous."""
    recycle = index_of(entries, lambda e: e["action"] == "recycle")
    won = index_of(entries, lambda e: e["action"] == "claim" and e["result"] == "won")
    again = index_of(entries, lambda e: e["action"] == "claim" and e["result"] == "won"
                     and e["rep"] == entries[won]["rep"], won + 1)
    other = next(r.id for r in config.reps if r.id != entries[won]["rep"])
    soon = {**entries[again], "ts": str(int(entries[won]["ts"]) + 1000)}
    mutants = {
        "recycle without": splice(entries, recycle + 1, [entries[recycle]]),
        "not recycled|never fired": splice(entries, recycle, [], drop=1),
        "two holders": splice(entries, won + 1, [{**entries[won], "rep": other}]),
        "cooling down": splice(entries, again, [soon], drop=1),
    }
    for message, mutant in mutants.items():
        with pytest.raises(AssertionError, match=message):
            replay = Replay(config, leads)
            replay.run(mutant)
            replay.finish(END_MS)


def index_of(entries: list[dict[str, str]], test: Callable[[dict[str, str]], bool],
             start: int = 0) -> int:
    return next(i for i in range(start, len(entries)) if test(entries[i]))


def splice(entries: list[dict[str, str]], at: int, insert: list[dict[str, str]],
           drop: int = 0) -> list[dict[str, str]]:
    return entries[:at] + insert + entries[at + drop:]
