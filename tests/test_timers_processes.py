"""Redis timers under real `leadgrab serve` processes: each fires exactly once, even when
two processes poll the same Redis, and overdue ones fire when a server (re)starts."""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from redis.asyncio import Redis

from server.contracts.timer_members import TimerKind, member
from server.store import keys
from server.web.auth import Role
from tests.conftest import SECRET
from tests.helpers.http import post_ok, publish
from tests.test_processes import AUTH, serve

REPS = [("r0", "gold"), ("r1", "gold"), ("r2", "silver"), ("r3", "silver"), ("r4", None),
        ("r5", None), ("r6", "gold"), ("r7", None)]
HIGH = 5000


def write_floor(folder: Path, redis_url: str, *, sla_ms: int, warn_ms: int, stage_ms: int,
                auto_ms: int) -> Path:
    """A one-team config: follow-up SLA with warning, three release stages (gold at once,
    silver after `stage_ms`, everyone after twice that) and least-loaded auto-assignment."""
    reps = "".join(f'[[reps]]\nid = "{rep}"\nteam = "north"\n'
                   + (f'tier = "{tier}"\n' if tier else "") + "\n" for rep, tier in REPS)
    path = folder / "config.toml"
    path.write_text(
        f'[server]\ndata_dir = "{folder / "data"}"\nsecret = "{SECRET}"\n'
        f'redis_url = "{redis_url}"\n\n[teams.north]\n'
        f'auto_assign_after_ms = {auto_ms}\nassign_policy = "least_loaded"\n'
        'release = { min_value = 1000, stages = [{ tiers = ["gold"], after_ms = 0 }, '
        f'{{ tiers = ["silver"], after_ms = {stage_ms} }}, '
        f'{{ tiers = ["*"], after_ms = {2 * stage_ms} }}] }}\n'
        "rules = { max_open = 10, max_daily = 100, cooldown_after_claim_ms = 0, "
        f"penalty_cooldown_ms = 0, followup_sla_ms = {sla_ms}, warn_before_ms = {warn_ms} }}"
        f"\n\n[tiers.gold]\n[tiers.silver]\n\n{reps}")
    return path


@contextmanager
def serving(config: Path, redis_url: str) -> Iterator[str]:
    """A `leadgrab serve` process; killed if it does not stop on SIGTERM, so that a hung
    server fails its own test and cannot fire the next test's timers."""
    proc: subprocess.Popen[bytes] | None = None
    try:
        with serve(config, redis_url) as (proc, base):
            yield base
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)


def crm() -> str:
    return AUTH.mint(Role.INTEGRATION, "crm", ttl_s=60)


async def claim(base: str, rep: str, lead_id: str) -> None:
    token = AUTH.mint(Role.REP, rep, team="north", ttl_s=60)
    body = await post_ok(base, f"/api/leads/{lead_id}/claim", {"req_id": f"{rep}-{lead_id}"},
                      token)
    assert body["result"] == "won", body


async def redis_ms(redis: Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def audit(redis: Redis) -> list[dict[str, str]]:
    return [fields for _, fields in await redis.xrange(keys.audit("north"))]


async def settled(redis: Redis, timeout_s: float = 10.0) -> None:
    """Wait until no timer is left and no lead is held, then long enough for a late double."""
    async with asyncio.timeout(timeout_s):
        while await redis.zcard(keys.timers("north")) or await held_leads(redis):
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.6)  # three poll rounds of each process: a second firing would show


async def held_leads(redis: Redis) -> int:
    found = 0
    async for key in redis.scan_iter(match=keys.lead("north", "*")):
        found += await redis.hget(key, "state") == "held"
    return found


def holds_each_recycled_once(entries: list[dict[str, str]]) -> int:
    """Replay the audit: every hold gets one warning then one recycle, never two; returns
    how many holds there were."""
    holder: dict[str, str] = {}
    warned: set[str] = set()
    holds = 0
    for e in entries:
        lead, action = e.get("lead", ""), e["action"]
        if (action == "claim" and e["result"] == "won") or (
                action == "auto_assign" and e["result"] == "ok"):
            assert lead not in holder, f"{lead} taken while held: {e}"
            holder[lead], holds = e["rep"], holds + 1
        elif action == "warn":
            assert holder.get(lead) == e["rep"] and lead not in warned, f"extra warning {e}"
            warned.add(lead)
        elif action == "recycle":
            assert holder.pop(lead, None) == e["rep"], f"recycle without a hold: {e}"
            assert lead in warned, f"recycled without a warning first: {e}"
            warned.discard(lead)
    assert holder == {}, f"holds never recycled: {holder}"
    return holds


def offers_per_stage(entries: list[dict[str, str]]) -> Counter[tuple[str, str]]:
    return Counter((e["lead"], e["audience"]) for e in entries if e["action"] == "offer")


async def test_two_processes_fire_every_timer_exactly_once(redis: Redis, redis_url: str,
                                                           tmp_path: Path) -> None:
    config = write_floor(tmp_path, redis_url, sla_ms=700, warn_ms=300, stage_ms=400,
                         auto_ms=1600)
    plan = ([(f"LC{n}", 100, f"r{n % 6}") for n in range(6)]  # claimed at once
            + [(f"HU{n}", HIGH, "") for n in range(6)]  # valuable, nobody claims
            + [(f"HC{n}", HIGH, ("r0", "r1", "r6")[n % 3]) for n in range(4)]  # gold claims
            + [(f"LU{n}", 100, "") for n in range(4)])  # nobody claims
    with serving(config, redis_url) as a, serving(config, redis_url) as b:
        for n, (lead, value, rep) in enumerate(plan):
            base = (a, b)[n % 2]
            await publish(base, lead, crm(), value=value)
            if rep:
                await claim((b, a)[n % 2], rep, lead)
        await settled(redis)
        entries = await audit(redis)
    autos = Counter(e["lead"] for e in entries if e["action"] == "auto_assign")
    assert autos == Counter({lead: 1 for lead, _, _ in plan})
    assert all(e["result"] == "ok" for e in entries if e["action"] == "auto_assign")
    claimed = sum(1 for _, _, rep in plan if rep)
    assert holds_each_recycled_once(entries) == claimed + len(plan)
    offers = offers_per_stage(entries)
    assert max(offers.values()) == 1
    for n in range(6):
        assert {aud for lead, aud in offers if lead == f"HU{n}"} == {
            '{"tiers":["silver"]}', '{"except_tiers":["gold","silver"]}'}
    assert not any(lead.startswith("L") for lead, _ in offers)


async def test_overdue_timers_fire_once_when_a_server_starts(redis: Redis, redis_url: str,
                                                             tmp_path: Path) -> None:
    config = write_floor(tmp_path, redis_url, sla_ms=3500, warn_ms=1000, stage_ms=2000,
                         auto_ms=4500)
    with serving(config, redis_url) as a:
        for n in range(4):
            await publish(a, f"LC{n}", crm(), value=100)
            await claim(a, f"r{n}", f"LC{n}")
            await publish(a, f"HU{n}", crm(), value=HIGH)
        await publish(a, "LU0", crm(), value=100)
        await publish(a, "LU1", crm(), value=100)
    pending = await redis.zrange(keys.timers("north"), 0, -1, withscores=True)
    assert not [e for e in await audit(redis) if e["action"] in FIRED]
    assert len(pending) == 4 * 3 + 4 * 3 + 2
    while await redis_ms(redis) < max(score for _, score in pending) + 200:
        await asyncio.sleep(0.1)
    assert await redis.zcard(keys.timers("north")) == len(pending)  # nobody fires them
    restart_ms = await redis_ms(redis)
    auto = member(TimerKind.AUTO, "LU1")
    with serving(config, redis_url):
        async with asyncio.timeout(10):
            while await redis.zscore(keys.timers("north"), auto) is not None or len(
                    [e for e in await audit(redis) if e["action"] == "auto_assign"]) < 10:
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.6)
        entries = await audit(redis)
    fired = [e for e in entries if e["action"] in FIRED]
    assert all(int(e["ts"]) >= restart_ms for e in fired)
    by_kind = Counter((e["action"], e["lead"]) for e in fired)
    expected = Counter({("auto_assign", f"{kind}{n}"): 1 for kind in ("LC", "HU")
                        for n in range(4)})
    expected.update({("auto_assign", "LU0"): 1, ("auto_assign", "LU1"): 1})
    expected.update({(action, f"LC{n}"): 1 for action in ("warn", "recycle") for n in range(4)})
    expected.update({("offer", f"HU{n}"): 2 for n in range(4)})
    assert by_kind == expected
    assert max(offers_per_stage(entries).values()) == 1


FIRED = ("warn", "recycle", "offer", "auto_assign")


def write_window_team(folder: Path, redis_url: str, window_ms: int) -> Path:
    """A one-team config in window mode (lottery) with four reps."""
    reps = "".join(f'[[reps]]\nid = "r{n}"\nteam = "north"\n\n' for n in range(4))
    path = folder / "config.toml"
    path.write_text(
        f'[server]\ndata_dir = "{folder / "data"}"\nsecret = "{SECRET}"\n'
        f'redis_url = "{redis_url}"\n\n[teams.north]\nmode = "window"\n'
        f'window_ms = {window_ms}\nwindow_policy = "lottery"\n'
        "rules = { max_open = 10, max_daily = 100, cooldown_after_claim_ms = 0, "
        f"penalty_cooldown_ms = 0 }}\n\n{reps}")
    return path


async def pending(base: str, rep: str, lead_id: str) -> None:
    token = AUTH.mint(Role.REP, rep, team="north", ttl_s=60)
    body = await post_ok(base, f"/api/leads/{lead_id}/claim", {"req_id": f"{rep}-{lead_id}"},
                      token)
    assert body["result"] == "pending", body


async def windows_settled(redis: Redis, leads: list[str], timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while any([await redis.hget(keys.lead("north", lead), "state") != "held"
                   for lead in leads]):
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.6)  # three poll rounds of each process: a second settlement would show


def one_settlement_each(entries: list[dict[str, str]], leads: list[str]) -> None:
    """Per lead: one settle entry, one settled win, naming the same rep."""
    for lead in leads:
        settles = [e for e in entries if e["action"] == "settle" and e["lead"] == lead]
        wins = [e for e in entries if e["action"] == "claim" and e["lead"] == lead
                and e["result"] == "won"]
        assert len(settles) == 1 and len(wins) == 1, (lead, settles, wins)
        assert wins[0]["note"] == "settled" and wins[0]["rep"] == settles[0]["rep"]


async def test_windows_settle_once_with_two_processes_and_when_the_opener_dies(
        redis: Redis, redis_url: str, tmp_path: Path) -> None:
    config = write_window_team(tmp_path, redis_url, window_ms=800)
    with serving(config, redis_url) as b:
        with serve(config, redis_url) as (opener, a):
            for n in range(4):  # candidates through both processes
                await publish(a, f"W{n}", crm(), value=100)
                await pending((a, b)[n % 2], "r0", f"W{n}")
                await pending((b, a)[n % 2], "r1", f"W{n}")
            await publish(a, "DIES", crm(), value=100)
            await pending(a, "r2", "DIES")  # the window opens on `a`...
            await pending(a, "r3", "DIES")
            opener.kill()  # ...which dies before it closes, its local timer with it
            opener.wait(5)
        leads = [f"W{n}" for n in range(4)] + ["DIES"]
        await windows_settled(redis, leads)
        one_settlement_each(await audit(redis), leads)
    assert await redis.hget(keys.lead("north", "DIES"), "holder") in ("r2", "r3")
