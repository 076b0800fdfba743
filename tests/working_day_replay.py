"""The audit-replay checker: replays a team's audit stream, asserting the floor's invariants."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from server.config import Config
from server.contracts.reasons import Outcome
from server.floor.rules import EffectiveRep, effective_rep
from tests.working_day_harness import ZONE, Lead


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
