"""Fairness figures: known answers from the pure function, then from real claims and /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from server.app import create_app
from server.floor.fairness import Entry, fairness, gini, jain, top_share
from server.floor.scoreboard import MINUTE_MS, TeamTally
from server.store import keys
from server.web.appkeys import SCOREBOARD
from server.web.auth import Role, TokenAuthority
from tests.clock import ManualClock
from tests.conftest import SECRET, Gateway, gateway_config
from tests.test_http import call

FAIR_CONFIG = """
[teams.north]
rules = { max_open = 100, max_daily = 100, cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }
""" + "".join(f'\n[[reps]]\nid = "r{n}"\nteam = "north"\n' for n in range(4)) + """
[[reps]]
id = "r4"
team = "north"
active = false
"""
REPS = ["r0", "r1", "r2", "r3"]
# Lead n is won by WINNERS[n]; the next rep loses MARGINS_MS[n] later (None: nobody tries).
WINNERS = ["r0", "r0", "r0", "r0", "r1", "r1", "r2", "r3"]
MARGINS_MS: list[int | None] = [10, 20, 100, 30, 200, 49, 50, None]
JAIN = 8**2 / (4 * (16 + 4 + 1 + 1))  # wins 4, 2, 1, 1
SPEED = 4 / 7  # margins 10, 20, 30, 49 of 7 contests
LOSSES = {"r0": 0, "r1": 4, "r2": 2, "r3": 1, "r4": 0}
ATTEMPTS = {"r0": 4, "r1": 7, "r2": 3, "r3": 2, "r4": 1}


def gini_by_definition(values: list[float]) -> float:
    """ΣΣ|xi - xj| / (2 n² mean), straight from the definition."""
    n, mean = len(values), sum(values) / len(values)
    return sum(abs(a - b) for a in values for b in values) / (2 * n * n * mean)


def loser(winner: str) -> str:
    return REPS[(REPS.index(winner) + 1) % len(REPS)]


def scenario_entries() -> list[Entry]:
    """The audit entries the scripted scenario writes (publish, claims, two rejections)."""
    rows: list[dict[str, str]] = []
    ts = 1_000_000
    for n, (winner, margin) in enumerate(zip(WINNERS, MARGINS_MS, strict=True)):
        rows.append({"action": "publish", "lead": f"L{n}", "ts": str(ts)})
        rows.append(claim(f"L{n}", winner, "won", ts))
        if margin is not None:
            rows.append(claim(f"L{n}", loser(winner), "lost", ts + margin))
        ts += 1000
    rows.append(claim("L0", "r4", "rejected", ts, reason="ineligible"))
    rows.append(claim("NOPE", "r1", "rejected", ts, reason="not_found"))
    return [(f"{1_700_000_000_000 + i}-0", row) for i, row in enumerate(rows)]


def claim(lead: str, rep: str, result: str, ts: int, reason: str = "",
          note: str = "") -> dict[str, str]:
    row = {"action": "claim", "lead": lead, "rep": rep, "result": result, "ts": str(ts)}
    row.update({k: v for k, v in (("reason", reason), ("note", note)) if v})
    return row


def test_scenario_known_answers() -> None:
    got = fairness(scenario_entries(), REPS)
    assert got.team.jain == pytest.approx(64 / 88) == pytest.approx(JAIN)
    assert got.team.gini == pytest.approx(0.3125) == pytest.approx(gini_by_definition([4, 2, 1, 1]))
    assert got.team.top10_share == pytest.approx(0.5)  # ceil(10 % of 4) = 1 rep: 4 of 8 wins
    assert (got.team.contests, got.team.speed_decided) == (7, 4)
    assert got.team.speed_decided_share == pytest.approx(SPEED)
    assert {r: f.wins for r, f in got.reps.items()} == {"r0": 4, "r1": 2, "r2": 1, "r3": 1,
                                                         "r4": 0}
    assert {r: f.losses for r, f in got.reps.items()} == LOSSES
    assert {r: f.attempts for r, f in got.reps.items()} == ATTEMPTS
    assert got.reps["r4"].rejections == {"ineligible": 1}
    assert got.reps["r1"].rejections == {"not_found": 1}


def test_index_edge_cases() -> None:
    assert jain([]) is None and gini([0, 0]) is None and top_share([0.0]) is None
    assert jain([5, 5, 5]) == 1 and gini([5, 5, 5]) == 0
    assert jain([9, 0, 0]) == pytest.approx(1 / 3) and gini([9, 0, 0]) == pytest.approx(2 / 3)
    values = [float(v) for v in range(1, 31)]
    assert gini(values) == pytest.approx(gini_by_definition(values))
    assert top_share(values) == pytest.approx((30 + 29 + 28) / sum(values))  # 3 of 30 reps


def test_windows_settlements_repeats_and_releases() -> None:
    rows = [
        claim("W", "r0", "pending", 0), claim("W", "r1", "pending", 5),
        claim("W", "r0", "won", 3000, note="settled"), claim("W", "r1", "lost", 3000,
                                                             note="settled"),
        {"action": "settle", "lead": "W", "rep": "r0", "ts": "3000"},
        claim("W", "r2", "lost", 3001),  # a window lead is not an fcfs contest
        claim("F", "r1", "won", 4000), claim("F", "r1", "won", 4001, note="already_holder"),
        {"action": "release", "lead": "F", "rep": "r1", "ts": "4002"},
        claim("F", "r2", "won", 5000), claim("F", "r3", "lost", 5070),
        claim("F", "r0", "lost", 5080),
    ]
    entries: list[Entry] = [(f"{i}-0", row) for i, row in enumerate(rows)]
    got = fairness(entries, ())
    reps = got.reps
    assert (reps["r0"].attempts, reps["r0"].wins, reps["r1"].attempts, reps["r1"].wins) == (
        2, 1, 3, 1)
    assert (got.team.contests, got.team.speed_decided) == (1, 0)  # F: r3 lost 70 ms after


@pytest.mark.parametrize("piece", [1000, 2])
def test_tally_windows_slide_by_the_minute_and_agree_with_a_recount(piece: int) -> None:
    """Counted once into minutes, each window's running sum equals a recount of the entries
    in it, as the windows slide over 30 h of scripted traffic (read `piece` entries at a
    time, as a refresh reads in chunks, several between two slides)."""
    hour = 60 * MINUTE_MS
    base = 1_700_000_000_000 // MINUTE_MS * MINUTE_MS
    entries: list[Entry] = []
    for n in range(30 * 12):  # a contested lead every 5 minutes for 30 h, some rejections
        ms = base + n * 5 * MINUTE_MS
        winner, other = f"r{n % 3}", f"r{(n * 7) % 4}"
        entries.append((f"{ms}-0", claim(f"L{n}", winner, "won", ms)))
        entries.append((f"{ms + 30}-0", claim(f"L{n}", other, "lost", ms + 30 + n % 90)))
        if n % 4 == 0:
            entries.append((f"{ms + 40}-0", claim(f"L{n}", "r9", "rejected", ms + 40,
                                                   reason="cooldown")))
    tally = TeamTally()
    for now in range(base, base + 31 * hour, 37 * MINUTE_MS):
        new = [e for e in entries if tally_last_ms(tally) < int(e[0][:-2]) <= now]
        for at in range(0, len(new), piece):
            tally.ingest(new[at:at + piece])
        tally.slide(now)
        for window in ("1h", "24h"):
            start = TeamTally.start_ms(window, now)
            recount = fairness([e for e in entries if start <= int(e[0][:-2]) <= now], ())
            counted = tally.windows[window]
            assert counted.reps == {r: f for r, f in recount.reps.items()}, (window, now)
            assert (counted.contests, counted.speed_decided) == (recount.team.contests,
                                                                  recount.team.speed_decided)
    assert len(tally.minutes) <= 24 * 60 + 1


def tally_last_ms(tally: TeamTally) -> int:
    return int(tally.last.partition("-")[0]) if tally.last else -1


@asynccontextmanager
async def fair_gateway(redis: Redis, redis_url: str, tmp_path: Path, clock: ManualClock | None,
                       extra_server: str = "") -> AsyncIterator[Gateway]:
    """A running app on the four-rep team (plus inactive r4), scripts on a test clock."""
    config = gateway_config(tmp_path, extra_server, body=FAIR_CONFIG)
    app = create_app(config, redis=redis_url, clock=clock)
    async with TestServer(app) as server:
        yield Gateway(server, app, TokenAuthority(SECRET), redis)


async def drive_scenario(gw: Gateway, clock: ManualClock) -> None:
    """Play the scripted scenario through HTTP, with the test clock setting every margin."""
    crm = gw.role_token(Role.INTEGRATION, "crm")
    for n, (winner, margin) in enumerate(zip(WINNERS, MARGINS_MS, strict=True)):
        await call(gw, "POST", "/api/leads", crm, {"id": f"L{n}", "team": "north"})
        assert (await grab(gw, winner, f"L{n}"))["result"] == "won"
        if margin is not None:
            clock.advance(margin)
            assert (await grab(gw, loser(winner), f"L{n}"))["result"] == "lost"
        clock.advance(1000)
    assert (await grab(gw, "r4", "L0"))["reason"] == "ineligible"
    assert (await grab(gw, "r1", "NOPE"))["reason"] == "not_found"


async def grab(gw: Gateway, rep: str, lead: str) -> dict[str, Any]:
    status, body = await call(gw, "POST", f"/api/leads/{lead}/claim", gw.token(rep), {})
    assert status == 200
    return dict(body)


async def scrape(gw: Gateway) -> str:
    async with aiohttp.ClientSession() as http, http.get(gw.url("/metrics")) as resp:
        return await resp.text()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in an exposition, or None when absent."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


async def test_fairness_api_and_metrics_after_real_claims(redis: Redis, redis_url: str,
                                                          tmp_path: Path,
                                                          clock: ManualClock) -> None:
    async with fair_gateway(redis, redis_url, tmp_path, clock) as gw:
        await drive_scenario(gw, clock)
        manager = gw.role_token(Role.MANAGER, "boss")
        status, body = await call(gw, "GET", "/api/fairness?team=north&window=1h", manager)
        assert status == 200 and body["window"] == "1h" and body["truncated"] is False
        figures = body["figures"]
        assert figures["jain"] == pytest.approx(JAIN) and figures["gini"] == pytest.approx(0.3125)
        assert figures["top10_share"] == pytest.approx(0.5) and figures["contests"] == 7
        assert figures["speed_decided_share"] == pytest.approx(SPEED)
        assert {r: v["losses"] for r, v in body["reps"].items()} == LOSSES
        assert {r: v["attempts"] for r, v in body["reps"].items()} == ATTEMPTS
        assert body["reps"]["r4"] == {"wins": 0, "losses": 0, "attempts": 1, "eligible": False,
                                      "rejections": {"ineligible": 1}}
        await gw.app[SCOREBOARD].publish("north")
        text = await scrape(gw)
    for window in ("1h", "24h"):
        labels = {"team": "north", "window": window}
        assert sample(text, "leadgrab_team_jain_index", **labels) == pytest.approx(JAIN)
        assert sample(text, "leadgrab_team_gini_coefficient", **labels) == pytest.approx(0.3125)
        assert sample(text, "leadgrab_team_top10_win_share", **labels) == pytest.approx(0.5)
        assert sample(text, "leadgrab_team_speed_decided_share", **labels) == pytest.approx(SPEED)
        assert sample(text, "leadgrab_team_contests", **labels) == 7
    for rep, wins in {"r0": 4, "r1": 2, "r2": 1, "r3": 1}.items():
        assert sample(text, "leadgrab_rep_wins_total", team="north", rep=rep) == wins
        assert sample(text, "leadgrab_rep_losses_total", team="north", rep=rep) == LOSSES[rep]
    assert sample(text, "leadgrab_rep_rejections_total", rep="r4", reason="ineligible") == 1
    assert sample(text, "leadgrab_rep_claim_attempts_total", rep="r1") == ATTEMPTS["r1"]
    assert sample(text, "leadgrab_rep_open_leads", rep="r0") == 4
    assert sample(text, "leadgrab_rep_followup_misses_total", rep="r3") == 0


async def test_win_time_is_observed_whether_the_offer_or_the_win_comes_first(
        redis: Redis, redis_url: str, tmp_path: Path) -> None:
    async with fair_gateway(redis, redis_url, tmp_path, None) as gw:
        crm = gw.role_token(Role.INTEGRATION, "crm")
        for n in range(3):
            await call(gw, "POST", "/api/leads", crm, {"id": f"T{n}", "team": "north"})
            await grab(gw, "r2", f"T{n}")  # often served before the tail saw the offer
        for _ in range(100):
            text = await scrape(gw)
            if sample(text, "leadgrab_rep_win_seconds_count", rep="r2") == 3:
                break
            await asyncio.sleep(0.02)
    assert sample(text, "leadgrab_rep_win_seconds_count", rep="r2") == 3
    assert sample(text, "leadgrab_rep_win_seconds_count", rep="r0") is None


async def test_a_window_trimmed_before_it_was_counted_says_truncated(
        redis: Redis, redis_url: str, tmp_path: Path) -> None:
    async with fair_gateway(redis, redis_url, tmp_path, None, "audit_maxlen = 100") as gw:
        crm = gw.role_token(Role.INTEGRATION, "crm")
        for n in range(400):
            await call(gw, "POST", "/api/leads", crm, {"id": f"T{n}", "team": "north"})
        assert await redis.xlen(keys.audit("north")) < 400  # the cap trimmed the oldest
        manager = gw.role_token(Role.MANAGER, "boss")
        gw.app[SCOREBOARD].tallies.clear()  # a process looking for the first time
        status, body = await call(gw, "GET", "/api/fairness?window=1h", manager)
    assert status == 200 and body["truncated"] is True
    assert body["scanned"] == await redis.xlen(keys.audit("north"))
