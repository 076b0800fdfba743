"""The gateway's offer filter and the Lua eligibility agree: for generated reps and leads, a rep
is shown an offer of a lead (`Hub.visible` on the real events-stream entries, every release
stage fired) exactly when claim_lead.lua, run on real Redis once every stage is open, lets
that rep win it; otherwise the script says why (ineligible or not_open)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from server.config import parse_config
from server.contracts.events import EventType
from server.contracts.reasons import Outcome, Reason
from server.contracts.results import ClaimResult
from server.fanout.connection import Connection
from server.fanout.deliveries import deliveries
from server.fanout.hub import Hub
from server.floor.arbiter import Arbiter
from server.floor.lead import NewLead
from server.floor.timers import Timers
from server.metrics import Metrics
from server.protocol import Codec
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock
from tests.conftest import LIMITS
from tests.test_hub import ReadingSink

START_MS = 1_799_053_200_000
TIERS = ("gold", "silver")
STAGE_MS = (0, 1_000, 5_000)
Stages = tuple[tuple[tuple[str, ...], int], ...]


@dataclass(frozen=True)
class Rep:
    regions: tuple[str, ...]
    skills: tuple[str, ...]
    tier: str | None
    active: bool
    paused: bool

    def toml(self, rep_id: str) -> str:
        tier = f'tier = "{self.tier}"\n' if self.tier else ""
        return (f'[[reps]]\nid = "{rep_id}"\nteam = "north"\n{tier}'
                f"regions = {json.dumps(list(self.regions))}\n"
                f"skills = {json.dumps(list(self.skills))}\nactive = {json.dumps(self.active)}\n")


@dataclass(frozen=True)
class Case:
    """Reps r0, r1, … and a lead for each (L0, L1, …) alike: region, skills and release stages
    (None: offered to everyone at once)."""

    reps: tuple[Rep, ...]
    region: str
    skills: tuple[str, ...]
    stages: Stages | None

    def config(self) -> str:
        release = ""
        if self.stages is not None:
            stages = ", ".join(f"{{ tiers = {json.dumps(list(t))}, after_ms = {ms} }}"
                               for t, ms in self.stages)
            release = f"release = {{ min_value = 0, stages = [{stages}] }}\n"
        return ("[teams.north]\nrules = { max_open = 50, max_daily = 50, "
                "cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }\n" + release
                + "".join(f"[tiers.{t}]\n" for t in TIERS)
                + "".join(rep.toml(f"r{i}") for i, rep in enumerate(self.reps)))


def subsets(items: tuple[str, ...], min_size: int = 0) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(items), min_size=min_size, unique=True).map(tuple)


MOSTLY = st.sampled_from((True, True, True, False))  # most reps could take a lead: the
# checks that tell them apart (tiers, regions, skills) then decide more examples
REPS = st.builds(Rep, regions=subsets(("north", "east", "*")), skills=subsets(("solar", "wind")),
                 tier=st.sampled_from((*TIERS, None)), active=MOSTLY,
                 paused=MOSTLY.map(lambda x: not x))
STAGES = st.lists(st.tuples(subsets((*TIERS, "*"), min_size=1), st.sampled_from(STAGE_MS)),
                  min_size=1, max_size=3).map(lambda s: tuple(sorted(s, key=lambda x: x[1])))
CASES = st.builds(Case, reps=st.lists(REPS, min_size=1, max_size=6).map(tuple),
                  region=st.sampled_from(("", "north", "east", "south")),
                  skills=subsets(("solar", "wind", "hydro")), stages=st.none() | STAGES)
ANYONE = Rep(("*",), (), None, True, False)


async def verdicts(redis_url: str, case: Case) -> list[tuple[bool, ClaimResult]]:
    """Per rep: whether the gateway would show it an offer of its lead, and its claim on it
    once every release stage is open."""
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.flushdb()
        clock = ManualClock(now_ms=START_MS)
        config = parse_config(case.config())
        arbiter = Arbiter(Store(client, LIMITS, clock), config)
        await arbiter.apply_rules(config)
        await arbiter.refresh_roster()
        for i, rep in enumerate(case.reps):
            if rep.paused:
                await arbiter.pause(f"r{i}", True, "test")
            await arbiter.publish(NewLead(id=f"L{i}", team="north", value=100, region=case.region,
                                          skills=list(case.skills)), "test")
        clock.advance(max(STAGE_MS))
        await Timers(arbiter, ["north"]).fire_due()  # the later stages' offers
        shown = await offers_shown(client, arbiter, clock.now_ms)
        return [((f"r{i}", f"L{i}") in shown, await arbiter.claim(f"r{i}", f"L{i}", "q"))
                for i in range(len(case.reps))]
    finally:
        await client.aclose()


async def offers_shown(client: Redis, arbiter: Arbiter, now_ms: int) -> set[tuple[str, str]]:
    """(rep, lead) for every offer in the events stream that the hub's filter lets through to
    that rep (pauses followed from the stream, as the tail does)."""
    metrics = Metrics()
    hub = Hub(metrics, arbiter.member)
    shown: set[tuple[str, str]] = set()
    for seq, fields in await client.xrange(keys.events("north")):
        if fields["type"] == EventType.PAUSE:
            hub.set_paused(fields["rep"], fields["paused"] == "1")
        for item in deliveries(fields, seq):
            for rep in arbiter.roster.members:
                conn = Connection(rep, "north", Codec.JSON, ReadingSink(), 8, metrics)
                if item.offer and hub.visible(conn, arbiter.member(rep), item, now_ms):
                    shown.add((rep, fields["lead_id"]))
    return shown


@pytest.mark.timeout(120)
@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=CASES)
@example(case=Case((Rep(("north",), ("solar",), "gold", True, False),  # no stage has its tier
                    Rep(("east",), (), None, True, False),  # only '*' stages reach it
                    Rep(("*",), (), "silver", False, False),  # inactive
                    Rep(("*",), ("wind",), "silver", True, True)),  # paused
                   "north", ("solar",), ((("silver",), 0), (("*",), 1_000))))
@example(case=Case((ANYONE, Rep((), (), "gold", True, False)), "", (), ((("gold",), 5_000),)))
def test_offer_filter_and_claim_eligibility_agree(redis_url: str, case: Case) -> None:
    for i, (shown, claim) in enumerate(asyncio.run(verdicts(redis_url, case))):
        assert shown == (claim.result is Outcome.WON), (case.reps[i], claim)
        if not shown:
            assert claim.reason in (Reason.INELIGIBLE, Reason.NOT_OPEN), claim
