"""The working-day simulator: the day's config, its leads, and a floor of reps that act on them."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from redis.asyncio import Redis

from server.config import Config, parse_config
from server.floor.arbiter import Arbiter
from server.floor.lead import NewLead
from server.floor.timers import Timers
from server.store import keys
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
