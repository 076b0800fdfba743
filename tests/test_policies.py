"""Floor policies on real Redis with a controlled clock: deadlines, lockout, ownership,
release stages, shifts, pauses, dispatch and fallback assignment."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from server.config import ConfigError, parse_config
from server.contracts.reasons import Outcome, Reason
from server.floor.arbiter import Arbiter
from server.floor.timers import Timers
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock
from tests.helpers import arbiter_for, publish

RULES = ("max_open = 3, max_daily = 50, cooldown_after_claim_ms = 0, "
         "penalty_cooldown_ms = 60000, followup_sla_ms = 10000, warn_before_ms = 2000, "
         "max_hold_ms = 30000, reclaim_lockout_ms = 5000")


def floor(team_extra: str = "", reps: str = "") -> str:
    return (f'[teams.north]\ntimezone = "Europe/Berlin"\n{team_extra}\n'
            f"rules = {{ {RULES} }}\n\n[tiers.gold]\n[tiers.silver]\n\n"
            + (reps or '[[reps]]\nid = "ann"\nteam = "north"\ntier = "gold"\n\n'
                       '[[reps]]\nid = "ben"\nteam = "north"\ntier = "silver"\n\n'
                       '[[reps]]\nid = "cat"\nteam = "north"\n'))


async def fire(arbiter: Arbiter) -> None:
    await Timers(arbiter, ["north"]).fire_due()


async def audit(redis: Redis, action: str) -> list[dict[str, str]]:
    return [f for _, f in await redis.xrange(keys.audit("north")) if f["action"] == action]


async def events(redis: Redis, kind: str) -> list[dict[str, str]]:
    return [f for _, f in await redis.xrange(keys.events("north")) if f["type"] == kind]


async def test_missed_followup_recycles_once_with_penalty_and_lockout(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    arbiter = await arbiter_for(store, floor())
    await publish(arbiter, "L1")
    assert (await arbiter.claim("ann", "L1", "a")).result is Outcome.WON
    clock.advance(7999)
    await fire(arbiter)
    assert await events(redis, "warn") == []
    clock.advance(1)  # warn_before_ms = 2000 before the 10 s deadline
    await fire(arbiter)
    await fire(arbiter)
    assert [w["rep"] for w in await events(redis, "warn")] == ["ann"]
    clock.advance(1999)
    await fire(arbiter)
    assert await redis.hget(keys.lead("north", "L1"), "holder") == "ann"
    clock.advance(1)
    await fire(arbiter)
    await fire(arbiter)
    assert len(await audit(redis, "recycle")) == 1
    lead = await redis.hgetall(keys.lead("north", "L1"))
    assert (lead["state"], lead["holder"]) == ("open", "")
    state = await redis.hgetall(keys.rep_state("north", "ann"))
    assert state["misses"] == "1" and int(state["cooldown_until_ms"]) == clock.now_ms + 60000
    assert await redis.scard(keys.held("north", "ann")) == 0
    relock = await arbiter.claim("ann", "L1", "again")
    assert (relock.reason, relock.retry_after_ms) == (Reason.LOCKED_OUT, 5000)
    assert (await arbiter.claim("ben", "L1", "b")).result is Outcome.WON
    assert [r["rep"] for r in await events(redis, "revoked")] == ["ann"]


async def test_followup_meets_the_deadline_then_max_hold_applies(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    arbiter = await arbiter_for(store, floor())
    await publish(arbiter, "L1")
    await arbiter.claim("ann", "L1", "a")
    clock.advance(9000)
    done = await arbiter.followup("ann", "L1", "called")
    assert done.ok and done.deadline_ms == clock.now_ms + 30000
    clock.advance(29999)
    await fire(arbiter)
    assert await redis.hget(keys.lead("north", "L1"), "state") == "held"
    clock.advance(1)
    await fire(arbiter)
    assert [a["reason"] for a in await audit(redis, "recycle")] == ["max_hold"]
    assert (await arbiter.followup("ben", "L1", "")).reason is Reason.NOT_HOLDER


async def test_release_locks_the_former_holder_out_of_lead_and_customer(
        store: Store, clock: ManualClock) -> None:
    arbiter = await arbiter_for(store, floor())
    await publish(arbiter, "L1", customer_id="C1")
    await arbiter.claim("ann", "L1", "a")
    assert (await arbiter.release("ann", "L1")).ok
    await publish(arbiter, "L2", customer_id="C1")
    for lead in ("L1", "L2"):
        locked = await arbiter.claim("ann", lead, f"x{lead}")
        assert (locked.reason, locked.retry_after_ms) == (Reason.LOCKED_OUT, 5000)
    clock.advance(4999)
    assert (await arbiter.claim("ann", "L1", "y")).reason is Reason.LOCKED_OUT
    clock.advance(1)
    assert (await arbiter.claim("ann", "L1", "z")).result is Outcome.WON


async def test_duplicate_lead_goes_to_the_customer_holder(store: Store, redis: Redis) -> None:
    arbiter = await arbiter_for(store, floor())
    await publish(arbiter, "L1", customer_id="C1")
    await arbiter.claim("ben", "L1", "b")
    assert (await publish(arbiter, "L2", customer_id="C1")).assigned
    assert await redis.hget(keys.lead("north", "L2"), "holder") == "ben"
    assert await redis.smembers(keys.held("north", "ben")) == {"L1", "L2"}
    assert (await arbiter.claim("ann", "L2", "a")).result is Outcome.LOST
    assigned = await audit(redis, "assign")
    assert [(a["rep"], a["reason"]) for a in assigned] == [("ben", "duplicate")]
    await publish(arbiter, "L3", customer_id="C2")
    assert await redis.hget(keys.lead("north", "L3"), "state") == "open"


async def test_owner_window_then_everyone(store: Store, clock: ManualClock, redis: Redis) -> None:
    team = "protection_period_ms = 86400000\nowner_window_ms = 15000"
    arbiter = await arbiter_for(store, floor(team))
    await publish(arbiter, "L1", customer_id="C1")
    await arbiter.claim("ben", "L1", "b")
    await arbiter.close("ben", "L1", "won")
    clock.advance(1000)
    await publish(arbiter, "L2", customer_id="C1")
    offer = (await events(redis, "lead"))[-1]
    assert json.loads(offer["audience"]) == {"reps": ["ben"]}
    early = await arbiter.claim("ann", "L2", "a")
    assert (early.reason, early.retry_after_ms) == (Reason.NOT_OPEN, 15000)
    clock.advance(15000)
    await fire(arbiter)
    assert json.loads((await events(redis, "lead"))[-1]["audience"]) == {"except_reps": ["ben"]}
    assert (await arbiter.claim("ann", "L2", "a2")).result is Outcome.WON


async def test_release_stages_open_per_tier(store: Store, clock: ManualClock,
                                            redis: Redis) -> None:
    team = ('release = { min_value = 1000, stages = [{ tiers = ["gold"], after_ms = 0 }, '
            '{ tiers = ["silver"], after_ms = 20000 }, { tiers = ["*"], after_ms = 60000 }] }')
    arbiter = await arbiter_for(store, floor(team))
    await publish(arbiter, "CHEAP", value=10)
    assert (await arbiter.claim("cat", "CHEAP", "c0")).result is Outcome.WON
    assert (await arbiter.close("cat", "CHEAP", "lost")).ok
    await publish(arbiter, "BIG", value=5000)
    assert json.loads((await events(redis, "lead"))[-1]["audience"]) == {"tiers": ["gold"]}
    silver = await arbiter.claim("ben", "BIG", "b1")
    assert (silver.reason, silver.retry_after_ms) == (Reason.NOT_OPEN, 20000)
    clock.advance(19999)
    await fire(arbiter)
    assert (await arbiter.claim("ben", "BIG", "b2")).retry_after_ms == 1
    clock.advance(1)
    await fire(arbiter)
    await fire(arbiter)
    audiences = [json.loads(e["audience"]) for e in await events(redis, "lead")]
    assert audiences[-1] == {"tiers": ["silver"]} and len(audiences) == 3
    assert (await arbiter.claim("cat", "BIG", "c1")).reason is Reason.NOT_OPEN
    assert (await arbiter.claim("ben", "BIG", "b3")).result is Outcome.WON
    assert (await arbiter.close("ben", "BIG", "won")).ok
    clock.advance(40000)
    await fire(arbiter)
    assert len(await events(redis, "lead")) == 3  # the '*' stage: not offered, closed


async def test_shifts_and_pauses(store: Store, clock: ManualClock) -> None:
    reps = ('[[reps]]\nid = "ann"\nteam = "north"\n'
            'rules = { shifts = ["mon-fri 09:00-18:00"] }\n\n'
            '[[reps]]\nid = "ben"\nteam = "north"\n')
    clock.now_ms = 1_799_078_400_000  # Monday 2027-01-04 17:00 Berlin
    arbiter = await arbiter_for(store, floor(reps=reps))
    await publish(arbiter, "L1")
    await publish(arbiter, "L2")
    assert (await arbiter.claim("ann", "L1", "a")).result is Outcome.WON
    clock.advance(3_600_000)  # 18:00: off shift until Tuesday 09:00
    off = await arbiter.claim("ann", "L2", "b")
    assert (off.reason, off.retry_after_ms) == (Reason.NOT_OPEN, 15 * 3_600_000)
    assert (await arbiter.pause("ben", True, "ben")).ok
    assert (await arbiter.claim("ben", "L2", "c")).reason is Reason.NOT_OPEN
    assert (await arbiter.pause("ben", False, "manager:m")).ok
    assert (await arbiter.claim("ben", "L2", "d")).result is Outcome.WON


async def test_manager_dispatch_reassign_and_withdraw(store: Store, redis: Redis) -> None:
    reps = ('[[reps]]\nid = "ann"\nteam = "north"\nregions = ["east"]\n\n'
            '[[reps]]\nid = "ben"\nteam = "north"\nrules = { max_open = 1 }\n')
    arbiter = await arbiter_for(store, floor(reps=reps))
    for lead in ("L1", "L2", "L3"):
        await publish(arbiter, lead, region="west")
    no = await arbiter.dispatch("north", "L1", "ann", "manager:m", force=False, reason="")
    assert (no.status, no.detail) == ("rejected", Reason.INELIGIBLE)
    ok = await arbiter.dispatch("north", "L1", "ben", "manager:m", force=False, reason="")
    assert ok.ok
    full = await arbiter.dispatch("north", "L2", "ben", "manager:m", force=False, reason="")
    assert full.detail == Reason.QUOTA_OPEN
    assert (await arbiter.dispatch("north", "L2", "ben", "manager:m", force=True,
                                   reason="")).ok
    steal = await arbiter.dispatch("north", "L1", "ann", "manager:m", force=True, reason="")
    assert steal.detail == Reason.REASON_REQUIRED
    moved = await arbiter.dispatch("north", "L1", "ann", "manager:m", force=True,
                                   reason="ben is on leave")
    assert (moved.ok, moved.detail) == (True, "ben")
    assert await redis.smembers(keys.held("north", "ben")) == {"L2"}
    assert [(a["action"], a["actor"], a["rep"]) for a in await audit(redis, "reassign")] == [
        ("reassign", "manager:m", "ann")]
    assert (await arbiter.withdraw("north", "L3", "manager:m", "spam")).ok
    assert (await arbiter.claim("ben", "L3", "x")).reason is Reason.CLOSED
    assert (await arbiter.withdraw("north", "L1", "manager:m", "")).detail == "ann"
    assert await redis.scard(keys.held("north", "ann")) == 0


@pytest.mark.parametrize("policy", ["least_loaded", "round_robin", "none"])
async def test_fallback_assignment(store: Store, clock: ManualClock, redis: Redis,
                                   policy: str) -> None:
    team = f'auto_assign_after_ms = 30000\nassign_policy = "{policy}"'
    arbiter = await arbiter_for(store, floor(team))
    await redis.sadd(keys.held("north", "ann"), "x")  # ann is busier than ben and cat
    picks = []
    for n in range(4):
        await publish(arbiter, f"L{n}")
        clock.advance(29999)
        await fire(arbiter)
        assert await redis.hget(keys.lead("north", f"L{n}"), "state") == "open"
        clock.advance(1)
        await fire(arbiter)
        picks.append(await redis.hget(keys.lead("north", f"L{n}"), "holder"))
        if picks[-1]:
            await arbiter.close(picks[-1], f"L{n}", "won")
    if policy == "least_loaded":
        assert "ann" not in picks and set(picks) <= {"ben", "cat"}
    elif policy == "round_robin":
        assert picks == ["ann", "ben", "cat", "ann"]
    else:
        assert picks == ["", "", "", ""]
    assert len(await audit(redis, "auto_assign")) == (0 if policy == "none" else 4)


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [("followup_sla_ms = -1", "followup_sla_ms"), ('shifts = ["mon 25:00-26:00"]', "shifts"),
     ('shifts = ["someday 09:00-10:00"]', "shifts")],
)
def test_bad_policy_config_is_refused(rule: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_config(floor().replace("reclaim_lockout_ms = 5000",
                                     f"reclaim_lockout_ms = 5000, {rule}"))


async def test_table_refresh_keeps_rules_another_instance_loaded(store: Store,
                                                                 redis: Redis) -> None:
    old = await arbiter_for(store, floor())
    newer = parse_config(floor().replace("max_open = 3", "max_open = 4"))
    await Arbiter(store, newer).apply_rules(newer)  # another instance, newer config
    await old.refresh_tables()
    assert json.loads(await redis.hget(keys.rules("north"), "rep:ann"))["max_open"] == 4
    assert old.member("ann") is not None and old.member("ann").limits["max_open"] == 4
    assert await redis.zcard(keys.days("north")) > 400


async def test_team_settings_come_from_redis(store: Store, redis: Redis) -> None:
    fcfs = await arbiter_for(store, floor())
    window = parse_config(floor('mode = "window"'))
    await Arbiter(store, window).apply_rules(window)
    await fcfs.refresh_roster()
    await publish(fcfs, "L1")
    assert await redis.hget(keys.lead("north", "L1"), "mode") == "window"


async def test_dispatch_or_withdraw_closes_an_open_window(store: Store, clock: ManualClock,
                                                          redis: Redis) -> None:
    arbiter = await arbiter_for(store, floor('mode = "window"\nwindow_ms = 3000'))
    for lead in ("L1", "L2"):
        await publish(arbiter, lead)
        await arbiter.claim("ann", lead, f"a{lead}")
        await arbiter.claim("ben", lead, f"b{lead}")
    assert (await arbiter.dispatch("north", "L1", "ben", "manager:m", force=False,
                                   reason="")).ok
    assert (await arbiter.withdraw("north", "L2", "manager:m", "duplicate")).ok
    finals = {(lead, rep): await arbiter.claim(rep, lead, f"{rep[0]}{lead}")
              for lead in ("L1", "L2") for rep in ("ann", "ben")}
    assert finals[("L1", "ben")].result is Outcome.WON
    assert finals[("L1", "ann")].result is Outcome.LOST
    assert {finals[("L2", r)].reason for r in ("ann", "ben")} == {Reason.CLOSED}
    assert len(await events(redis, "settled")) == 2
    assert await redis.zcard(keys.timers("north")) == 2  # L1 held: its deadline and warning


async def test_auto_assign_timer_is_dropped_when_policy_becomes_none(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    team = 'auto_assign_after_ms = 1000\nassign_policy = "least_loaded"'
    arbiter = await arbiter_for(store, floor(team))
    await publish(arbiter, "L1")
    await arbiter.apply_rules(parse_config(floor(team.replace("least_loaded", "none"))))
    clock.advance(1000)
    await fire(arbiter)
    assert await redis.hget(keys.lead("north", "L1"), "state") == "open"
    assert await redis.zcard(keys.timers("north")) == 0


async def test_first_stage_later_than_publication_offers_to_nobody_yet(
        store: Store, redis: Redis) -> None:
    team = 'release = { stages = [{ tiers = ["gold"], after_ms = 5000 }] }'
    arbiter = await arbiter_for(store, floor(team))
    await publish(arbiter, "L1")
    assert json.loads((await events(redis, "lead"))[-1]["audience"]) == {"reps": {}}


async def test_dispatch_respects_lockout_unless_forced(store: Store) -> None:
    arbiter = await arbiter_for(store, floor())
    await publish(arbiter, "L1")
    await arbiter.claim("ann", "L1", "a")
    await arbiter.release("ann", "L1")
    refused = await arbiter.dispatch("north", "L1", "ann", "manager:m", force=False, reason="")
    assert refused.detail == Reason.LOCKED_OUT
    assert (await arbiter.dispatch("north", "L1", "ann", "manager:m", force=True,
                                   reason="")).ok


def test_release_stage_tiers_must_exist() -> None:
    with pytest.raises(ConfigError, match=r"release\.stages\[0\]\.tiers"):
        parse_config(floor('release = { stages = [{ tiers = ["platinum"], after_ms = 0 }] }'))
