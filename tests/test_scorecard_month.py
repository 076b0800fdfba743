"""A simulated month on a controlled clock: four reps with different conversion, deadline and
complaint histories. Each rep's score, as the server answers it, equals the README's formula
recomputed here from the audit export alone (GET /api/audit?format=jsonl)."""

from __future__ import annotations

import json
import random
import statistics
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from redis.asyncio import Redis

from server.app import create_app
from server.contracts.timer_members import TimerKind, member, parse
from server.floor.arbiter import Arbiter
from server.floor.lead import NewLead
from server.web.appkeys import ARBITER
from server.web.auth import Role
from tests.clock import ManualClock
from tests.conftest import Gateway, gateway_config, running

ZONE = ZoneInfo("Europe/Berlin")
START = datetime(2027, 1, 4, 9, tzinfo=ZONE)
DAYS = 31
MINUTE = 60_000
WEIGHTS = {"conversion": 40.0, "deadlines_kept": 30.0, "rating": 10.0,
           "complaints_per_100": -2.0, "disputes_lost": -5.0, "recycles": -1.0,
           "first_followup_hours": -0.5, "leads_taken": 0.1}
BASE, BONUS_WON, BONUS_KEPT = 50.0, 1.0, 0.2
# rep: (leads a day, chance of a won close, chance of missing the follow-up deadline,
#       chance of an upheld complaint per lead)
PROFILES = {"ana": (3, 0.6, 0.0, 0.0), "ben": (2, 0.2, 0.3, 0.0),
            "cai": (3, 0.4, 0.1, 0.2), "dee": (1, 0.9, 0.5, 0.1)}
CONFIG = f"""
[teams.north]
timezone = "Europe/Berlin"

[teams.north.rules]
max_open = 50
max_daily = 50
cooldown_after_claim_ms = 0
penalty_cooldown_ms = 0
followup_sla_ms = 3600000

[teams.north.scorecard]
window_days = 30
base = {BASE}
bonus_per_won = {BONUS_WON}
bonus_per_kept_deadline = {BONUS_KEPT}
weights = {{ {", ".join(f"{k} = {v}" for k, v in WEIGHTS.items())} }}
""" + "".join(f'\n[[reps]]\nid = "{rep}"\nteam = "north"\n' for rep in PROFILES)


@asynccontextmanager
async def month_gateway(redis: Redis, redis_url: str, tmp_path: Path,
                        clock: ManualClock) -> AsyncIterator[Gateway]:
    config = gateway_config(tmp_path, body=CONFIG)
    async with running(create_app(config, redis=redis_url, clock=clock), redis) as gw:
        yield gw


async def outcome(redis: Redis, clock: ManualClock, **fields: Any) -> None:
    """An entry of the complaints helper's shapes (task-13 contract), as its scripts write."""
    body = {"ts": clock.now_ms, "result": "ok", **fields}
    await redis.xadd("lg:{north}:audit", {k: str(v) for k, v in body.items()})


async def one_lead(arbiter: Arbiter, redis: Redis, clock: ManualClock, rng: random.Random,
                   rep: str, lead: str) -> None:
    _, p_won, p_miss, p_complaint = PROFILES[rep]
    await arbiter.publish(NewLead.model_validate({"id": lead, "team": "north"}), "crm")
    assert (await arbiter.claim(rep, lead, f"r-{lead}")).result == "won"
    if rng.random() < p_miss:
        clock.advance(61 * MINUTE)
        await arbiter.fire_deadline("north", parse(member(TimerKind.DEADLINE, lead)))
        return
    clock.advance(rng.randrange(1, 50) * MINUTE)
    assert (await arbiter.followup(rep, lead, "called")).ok
    assert (await arbiter.close(rep, lead, "won" if rng.random() < p_won else "lost")).ok
    await outcome(redis, clock, action="feedback", lead=lead, rep=rep, ref=f"f-{lead}",
                  rating=rng.randint(1, 5), actor="crm")
    if rng.random() < p_complaint:
        await outcome(redis, clock, action="complaint_ruling", lead=lead, rep=rep,
                      ref=f"c-{lead}", category="rude", status="upheld", actor="manager:m")


async def simulate(gw: Gateway, clock: ManualClock) -> None:
    arbiter, rng, n = gw.app[ARBITER], random.Random(13), 0
    for day in range(DAYS):
        clock.now_ms = int((START + timedelta(days=day)).timestamp() * 1000)
        for rep, (per_day, *_) in PROFILES.items():
            for _ in range(per_day):
                n += 1
                await one_lead(arbiter, gw.redis, clock, rng, rep, f"L{n}")
        if day % 10 == 9:
            await outcome(gw.redis, clock, action="dispute_ruling", lead=f"L{n}", rep="ana",
                          prev="ben", ref=f"d{day}", status="reassigned", actor="manager:m")


def recompute(entries: list[dict[str, Any]], today: str) -> dict[str, float]:
    """The README's formula, from the exported entries alone."""
    end = date.fromisoformat(today)
    window = {(end - timedelta(days=n)).isoformat() for n in range(30)}
    c: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    ff: dict[str, list[int]] = defaultdict(list)
    takes: dict[str, tuple[str, int]] = {}
    for e in entries:
        day = datetime.fromtimestamp(e["ts"] / 1000, ZONE).date().isoformat()
        counts = c[e.get("prev", "") if e["action"] == "dispute_ruling" else e.get("rep", "")]
        inside = day in window
        if e["action"] == "claim" and e.get("result") == "won":
            takes[e["lead"]] = (e["rep"], e["ts"])
            counts["taken"] += inside
        elif e["action"] == "followup":
            counts["kept"] += inside
            if takes.get(e["lead"], ("", 0))[0] == e["rep"]:
                taken_ms = takes.pop(e["lead"])[1]
                ff[e["rep"]] += [e["ts"] - taken_ms] if inside else []
        elif e["action"] == "close":
            counts[e["outcome"]] += inside
        elif e["action"] == "recycle":
            counts["recycles"] += inside
        elif e["action"] == "feedback" and inside:
            counts["rating_sum"] += int(e["rating"])
            counts["rating_n"] += 1
        elif e["action"] == "complaint_ruling" and e["status"] == "upheld":
            counts["upheld"] += inside
        elif e["action"] == "dispute_ruling":
            counts["disputes_lost"] += inside
    return {rep: score(c[rep], ff[rep]) for rep in PROFILES}


def score(k: dict[str, int], ff: list[int]) -> float:
    closed, judged = k["won"] + k["lost"], k["kept"] + k["recycles"]
    raw = {
        "conversion": k["won"] / closed if closed else 0.0,
        "deadlines_kept": k["kept"] / judged if judged else 0.0,
        "rating": (k["rating_sum"] / k["rating_n"] - 3) / 2 if k["rating_n"] else 0.0,
        "complaints_per_100": k["upheld"] * 100 / max(k["taken"], 1),
        "disputes_lost": k["disputes_lost"], "recycles": k["recycles"],
        "first_followup_hours": statistics.median(ff) / 3_600_000 if ff else 0.0,
        "leads_taken": k["taken"],
    }
    return BASE + sum(WEIGHTS[name] * value for name, value in raw.items()) + \
        BONUS_WON * k["won"] + BONUS_KEPT * k["kept"]


async def test_a_month_of_scores_equals_the_formula_over_the_export(
        redis: Redis, redis_url: str, tmp_path: Path, clock: ManualClock) -> None:
    async with month_gateway(redis, redis_url, tmp_path, clock) as gw:
        await simulate(gw, clock)
        manager = {"Authorization": f"Bearer {gw.role_token(Role.MANAGER, 'm')}"}
        async with aiohttp.ClientSession(headers=manager) as http:
            async with http.get(gw.url("/api/audit?team=north&format=jsonl")) as resp:
                entries = [json.loads(line) for line in (await resp.text()).splitlines()]
            async with http.get(gw.url("/api/scorecards?team=north")) as resp:
                assert resp.status == 200
                cards = (await resp.json())["scorecards"]
    today = datetime.fromtimestamp((clock.now_ms or 0) / 1000, ZONE).date().isoformat()
    expected = recompute(entries, today)
    got = {card["rep"]: card["score"] for card in cards}
    assert got == pytest.approx(expected, abs=1e-5)
    assert len({round(v, 3) for v in got.values()}) == len(PROFILES)  # histories differ
    for card in cards:
        assert card["window"]["days"] == 30
        assert sum(t["contribution"] for t in card["terms"]) == pytest.approx(card["score"],
                                                                               abs=1e-5)
