"""The replay's store: looks at the timer set ride with scripts; guessed refs never decide."""

from __future__ import annotations

import re

from redis.asyncio import Redis

from server.config import Config, parse_config
from server.contracts.statuses import Status
from server.floor.arbiter import Arbiter
from server.floor.lead import NewLead
from server.replay.firings import NEVER
from server.store.replay_store import ReplayStore
from server.store.scripts import lua_dir
from tests.clock import ManualClock
from tests.conftest import BASE_CONFIG, LIMITS

TEAM = "north"
AUTO = BASE_CONFIG.replace("[teams.north]\n", "[teams.north]\nassign_policy = \"round_robin\"\n"
                           "auto_assign_after_ms = 60000\n")


async def floor(redis: Redis, clock: ManualClock, text: str) -> tuple[ReplayStore, Arbiter]:
    store = ReplayStore(redis, LIMITS, clock)
    config: Config = parse_config(text)
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    return store, arbiter


async def test_a_look_rides_with_the_script_before_it(redis: Redis, clock: ManualClock) -> None:
    store, arbiter = await floor(redis, clock, AUTO)
    store.look_team, store.look_limit = TEAM, 16
    await arbiter.publish(NewLead(id="L1", team=TEAM), "crm")  # adds its 'auto:' timer
    reads = store.reads
    looked = await store.schedule()
    assert looked == await store.timer_schedule(TEAM, NEVER, 16) != []
    assert store.reads == reads + 1  # only the check above read: the look came with the script
    store.look_team = None
    await arbiter.claim("alice", "L1", "r1")  # a script without a look: the last one is stale
    assert await store.schedule() is None


async def test_a_wrong_guess_costs_a_read_never_a_decision(redis: Redis,
                                                          clock: ManualClock) -> None:
    store, arbiter = await floor(redis, clock, BASE_CONFIG)
    for lead in ("L1", "L2"):
        await arbiter.publish(NewLead(id=lead, team=TEAM, customer_id=f"C-{lead}"), "crm")
        assert (await arbiter.claim("alice", lead, f"r-{lead}")).result.value == "won"
        clock.now_ms += 2000
    reads = store.reads
    store.assume(("L1", "alice", "C-L1"))  # right: withdraw_lead.lua takes it, no read
    assert (await arbiter.withdraw(TEAM, "L1", "manager:m", "dup")).status is Status.OK
    assert store.reads == reads
    store.assume(("L2", "bob", "C-L2"))  # wrong holder: stale, and the store reads
    assert (await arbiter.withdraw(TEAM, "L2", "manager:m", "dup")).status is Status.OK
    assert store.reads == reads + 1
    assert (await store.lead_fields(TEAM, "L2"))["holder"] == ""


def may_add_timers(name: str) -> bool:
    """Whether a script's own code holds a ZADD to the timer set or a call that adds one."""
    body = (lua_dir() / f"{name}.lua").read_text(encoding="utf-8")
    header, code = body[:body.index("]]")], body[body.index("]]"):]
    timers = re.search(r"^KEYS\[(\d+)\]\s+lg:\{team\}:timers\s", header, re.MULTILINE)
    assert timers, name
    added = set(re.findall(r"'ZADD',\s*([\w\[\]]+)", code))
    return ("set_deadline(" in code or "start_hold(" in code
            or bool({"timers_key", f"KEYS[{timers.group(1)}]"} & added))


def test_the_scripts_taken_as_adding_no_timer_add_none() -> None:
    """shared_runs and due_timers rely on these scripts never adding a timer."""
    assert not any(map(may_add_timers, ("close_lead", "release_lead", "fire_deadline",
                                        "offer_lead")))
    assert all(map(may_add_timers, ("claim_lead", "followup_lead", "publish_lead",
                                    "auto_assign")))
