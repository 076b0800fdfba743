"""Replay: the scenario tests' audits re-derive every decision; what-if under new rules."""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path

import pytest
from redis.asyncio import Redis

from server.config import Config, parse_config
from server.floor.arbiter import Arbiter
from server.floor.lead import NewLead
from server.floor.timers import Timers
from server.replay.comparison import compare
from server.replay.record import RecordError, record
from server.replay.replayer import replay
from server.replay.runs import exact, from_redis, whatif
from server.store import keys
from server.store.store import Store
from tests.clock import ManualClock
from tests.conftest import BASE_CONFIG
from tests.test_loadtest import ROOT, run_cli
from tests.test_working_day import END_MS, Floor, day_config, local_ms, make_leads


async def recorded(redis: Redis, team: str = "north") -> list[dict[str, str]]:
    return [{"id": i, **f} for i, f in await redis.xrange(keys.audit(team))]


async def working_day(store: Store, clock: ManualClock, redis: Redis,
                      config: Config) -> list[dict[str, str]]:
    rng = random.Random(20270105)
    clock.now_ms = local_ms(5, 30)
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    await Floor(arbiter, redis, clock, rng, make_leads(rng)).run(END_MS)
    return await recorded(redis)


def window_day() -> Config:
    text = day_config().model_dump_json()
    body = json.loads(text)
    team = body["teams"]["north"]
    team.update(assign_policy="least_loaded", mode="window", window_ms=30_000,
                window_policy="lottery",
                bands=[{"min_value": 500, "mode": "window", "window_policy": "least_loaded"},
                       {"min_value": 5000, "mode": "fcfs"}])
    return Config.model_validate(body)


@pytest.mark.timeout(180)  # a simulated day: ~20 s alone, over 60 s on a machine under load
async def test_a_working_day_replays_exactly(store: Store, clock: ManualClock,
                                             redis: Redis) -> None:
    entries = await working_day(store, clock, redis, day_config())
    unversioned = {e["action"] for e in entries if e.get("rules_version", "0") == "0"}
    assert unversioned == set()  # publish, assign, offer, followup, withdraw, pause, resume too
    assert {"publish", "assign", "offer", "followup", "withdraw", "pause", "resume"} <= {
        e["action"] for e in entries}
    comparison, seconds = await exact(entries)
    assert comparison.total > 5000 and seconds < 60
    assert comparison.matched == comparison.total and not comparison.mismatches, \
        comparison.text()[:2000]
    run = await replay(record(entries), "north")  # round trips shared, refs guessed right:
    assert run.shared and run.reads < 40  # 19 reads (rules, dispatch/withdraw refs, audit)


@pytest.mark.timeout(180)
async def test_a_day_of_windows_and_least_loaded_draws_replays_exactly(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    entries = await working_day(store, clock, redis, window_day())
    actions = {(e["action"], e.get("policy", "")) for e in entries}
    assert {("settle", "lottery"), ("settle", "least_loaded"),
            ("auto_assign", "least_loaded")} <= actions
    ties = [e for e in entries if e["action"] == "auto_assign" and e["result"] == "ok"
            and len({c["open"] for c in json.loads(e["contenders"])}) == 1
            and len(json.loads(e["contenders"])) > 1]
    assert ties  # the recorded contenders and loads show tied draws that the seed decided
    comparison, _ = await exact(entries)
    assert comparison.matched == comparison.total and not comparison.mismatches, \
        comparison.text()[:2000]
    # the same config as a what-if decides exactly as the exact replay
    run = await replay(record(entries), "north", window_day())
    end = max(int(e["ts"]) for e in entries)  # (a what-if also settles the windows still open)
    same = compare(record(entries).entries, [e for e in run.entries if int(e[1]["ts"]) <= end])
    assert same.matched == same.total and not same.mismatches, same.text()[:2000]


POLLED = """
[teams.north]
timezone = "UTC"
mode = "window"
window_ms = 30000
window_policy = "lottery"
assign_policy = "least_loaded"
auto_assign_after_ms = 60000
release = { min_value = 1000, stages = [{ tiers = ["gold"], after_ms = 0 },
                                       { tiers = ["*"], after_ms = 60000 }] }
rules = { max_open = 50, max_daily = 50, cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }

[tiers.gold]
""" + "".join(f'[[reps]]\nid = "r{n}"\nteam = "north"\n' + ('tier = "gold"\n' if n < 2 else "")
              for n in range(6))


async def polled_floor(store: Store, clock: ManualClock, redis: Redis,
                       script: list[tuple[int, str, str]]) -> list[dict[str, str]]:
    """Inputs at their ms (publish, claim, pause, resume), timers fired by a poll every 20 s
    before the inputs of that ms, as a server (and the working-day floor) fires them."""
    config = parse_config(POLLED)
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    timers, start = Timers(arbiter, ["north"]), clock.now_ms or 0
    for at in range(0, max(at for at, _, _ in script) + 40_001, 20_000):
        clock.now_ms = start + at
        await timers.fire_due()
        for when, action, what in script:
            lead, _, value = what.partition(":")
            if when != at:
                continue
            if action == "publish":
                await arbiter.publish(NewLead(id=lead, team="north", value=float(value)), "crm")
            elif action == "claim":
                await arbiter.claim(value, lead, f"{lead}-{value}")
            else:
                assert (await arbiter.pause(what, action == "pause", "boss")).ok
    return await recorded(redis)


async def test_a_timer_that_fired_after_a_settlement_in_the_same_poll_replays_after_it(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    """The last stage's offer is due at 60 s, the window r0 opened at 20 s settles at 50 s;
    the poll at 60 s settles first (due order), so the offer finds the lead taken: no entry.
    Replayed at its due time before the settlement, it offered the lead (the xfail'd day).
    (L2: the record goes on past the poll.)"""
    entries = await polled_floor(store, clock, redis, [
        (0, "publish", "L1:5000"), (20_000, "claim", "L1:r0"), (100_000, "publish", "L2:10")])
    assert [e["action"] for e in entries if e.get("lead") == "L1"][-1] == "settle", entries
    assert not [e for e in entries if e["action"] == "offer"]
    comparison, _ = await exact(entries)
    assert comparison.matched == comparison.total and not comparison.mismatches, \
        comparison.text()


async def test_each_draw_replays_with_its_own_recorded_seed(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    """An auto-assign that finds nobody (every rep paused) draws nothing and records no seed;
    the lottery settling the window later must still get the seed its entry recorded."""
    reps = [f"r{n}" for n in range(6)]
    leads = [f"L{n}" for n in range(4)]
    entries = await polled_floor(store, clock, redis, [
        *((0, "publish", f"{lead}:10") for lead in leads),
        *((20_000, "pause", rep) for rep in reps), *((80_000, "resume", rep) for rep in reps),
        *((80_000, "claim", f"{lead}:{rep}") for lead in leads for rep in reps)])
    assert {e["result"] for e in entries if e["action"] == "auto_assign"} == {"none"}
    settles = [(e["lead"], e["seed"]) for e in entries if e["action"] == "settle"]
    assert len(settles) == len(leads)
    run = await replay(record(entries), "north")
    assert [(f["lead"], f["seed"]) for _, f in run.entries if f["action"] == "settle"] == settles
    assert not compare(record(entries).entries, run.entries).mismatches


async def test_a_tampered_claim_time_shows_exactly_the_decisions_that_follow(
        store: Store, clock: ManualClock, config: Config, redis: Redis) -> None:
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    start = clock.now_ms
    for lead in ("L1", "L2"):
        await arbiter.publish(NewLead(id=lead, team="north"), "crm")
    for at, rep, lead in ((100, "alice", "L1"), (200, "bob", "L1"), (300, "bob", "L2")):
        clock.now_ms = start + at
        await arbiter.claim(rep, lead, f"{rep}-{lead}")
    entries = await recorded(redis)
    assert (await exact(entries))[0].mismatches == []
    alice = next(e for e in entries if e.get("rep") == "alice")
    alice["ts"] = str(start + 250)  # alice now claims after bob
    comparison, _ = await exact(entries)
    found = {(m.lead, m.rep, m.recorded.result if m.recorded else None,
              m.replayed.result if m.replayed else None,
              m.replayed.reason if m.replayed else None) for m in comparison.mismatches}
    assert found == {("L1", "alice", "won", "lost", ""), ("L1", "bob", "lost", "won", ""),
                     ("L2", "bob", "won", "rejected", "cooldown")}
    assert comparison.matched == comparison.total - 3
    assert not (await replay(record(entries), "north")).shared  # diverged: one at a time
    assert "lead L2 rep bob: recorded claim bob won, replayed claim bob rejected (cooldown)" \
        in comparison.text()


FAIR = """
[teams.north]
timezone = "UTC"
rules = { max_open = 1000, max_daily = 1000, cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }
""" + "".join(f'[[reps]]\nid = "r{n:02}"\nteam = "north"\n' for n in range(20))


async def test_window_lottery_over_an_fcfs_day_won_by_five_fast_reps_raises_jain(
        store: Store, clock: ManualClock, redis: Redis) -> None:
    """The fairness experiment of docs/benchmarks.md as a what-if: 20 reps claim every lead,
    r00-r04 within 0-1 ms, the others within 30-60 ms; 300 leads, one every 40 ms."""
    config, rng = parse_config(FAIR), random.Random(5)
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    start = clock.now_ms or 0
    claims = []
    for n in range(300):
        at = start + 40 * n
        claims.append((at, -1, "", f"L{n:03}"))
        claims += [(at + rng.randint(*((0, 1) if r < 5 else (30, 60))), r, f"r{r:02}",
                    f"L{n:03}") for r in range(20)]
    for at, _, rep, lead in sorted(claims):
        clock.now_ms = at
        if rep:
            await arbiter.claim(rep, lead, f"{lead}-{rep}")
        else:
            await arbiter.publish(NewLead(id=lead, team="north"), "crm")
    entries = await recorded(redis)
    window = parse_config(FAIR.replace('timezone = "UTC"', 'timezone = "UTC"\nmode = "window"'
                                       '\nwindow_ms = 200\nwindow_policy = "lottery"'))
    report = await whatif(entries, window)
    before, after = report.recorded.team, report.new.team
    assert before["wins"] == after["wins"] == 300
    assert sum(report.recorded.reps[f"r{r:02}"].wins for r in range(5)) == 300
    assert before["jain"] < 0.26 and after["jain"] > 0.9, (before["jain"], after["jain"])
    assert before["speed_decided_share"] == 1.0 and after["speed_decided_share"] is None
    print(f"Jain fcfs {before['jain']:.3f} -> window+lottery {after['jain']:.3f}")


async def test_a_load_test_run_of_contention_replays_exactly(redis: Redis, redis_url: str,
                                                             tmp_path: Path) -> None:
    """contention.toml at a reduced size and rate (real clock, real WebSockets, 2 workers)."""
    code, output = await run_cli(
        "--scenario", str(ROOT / "loadtest" / "scenarios" / "contention.toml"),
        "--reps", "60", "--rate", "10", "--duration", "2", "--ceilings", "none",
        "--redis-url", redis_url, "--workdir", str(tmp_path))
    assert code == 0, output
    entries = await recorded(redis, "lt")
    claims = [e for e in entries if e["action"] == "claim"]
    assert len(claims) > 100 and {e["result"] for e in claims} >= {"won", "lost"}
    comparison, _ = await exact(entries)
    assert comparison.matched == comparison.total and not comparison.mismatches, \
        comparison.text()[:2000]


async def leadgrab(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "leadgrab"), *args, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_the_command_replays_an_export_and_reports_a_what_if(
        store: Store, clock: ManualClock, config: Config, redis: Redis, tmp_path: Path) -> None:
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    for n in range(4):
        await arbiter.publish(NewLead(id=f"L{n}", team="north"), "crm")
        for rep in ("alice", "bob"):
            clock.advance(700)
            await arbiter.claim(rep, f"L{n}", f"{rep}{n}")
    audit = tmp_path / "audit.jsonl"
    audit.write_text("".join(json.dumps(e) + "\n" for e in await recorded(redis)))
    code, out = await leadgrab("replay", str(audit))
    assert code == 0 and "decisions matched: 12 / 12 (100.00 %)" in out, out
    new = tmp_path / "new.toml"
    new.write_text(BASE_CONFIG.replace("max_daily = 5", "max_daily = 1"))
    html, png = tmp_path / "r.html", tmp_path / "r.png"
    code, out = await leadgrab("replay", str(audit), "--config", str(new), "--html", str(html),
                               "--png", str(png))
    assert code == 0 and "rejected quota_daily" in out and "reps do not react" in out, out
    assert "<svg" in html.read_text() and png.stat().st_size > 1000
    code, out = await leadgrab("replay", str(audit), "--config", str(new), "--json")
    assert json.loads(out)["new"]["team"]["rejections"]["quota_daily"] > 0
    audit.write_text(audit.read_text().replace('"result": "won"', '"result": "lost"', 1))
    code, out = await leadgrab("replay", str(audit))
    assert code == 1 and "decisions matched: 11 / 12" in out, out
    code, out = await leadgrab("replay", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "replay:" in out and "Traceback" not in out


async def test_an_export_without_its_rules_loaded_entry_needs_the_kept_history(
        store: Store, clock: ManualClock, config: Config, redis: Redis, redis_url: str) -> None:
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    await arbiter.publish(NewLead(id="L1", team="north"), "crm")
    clock.advance(10)
    await arbiter.claim("bob", "L1", "b1")
    entries, history = await from_redis(redis_url, "north")
    assert list(history) == [1] and json.loads(history[1])["reps"]["bob"]["max_open"] == 2
    later = [e for e in entries if e["action"] != "rules_loaded"]
    with pytest.raises(RecordError, match="rules version 1 is neither in the audit"):
        await exact(later)
    comparison, _ = await exact(later, history)
    assert (comparison.matched, comparison.total) == (2, 2)
