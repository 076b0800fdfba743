"""The /metrics exposition: promtool-clean, rep labels bounded by the roster, dashboard in sync."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from redis.asyncio import Redis

from server.contracts.reasons import Outcome
from server.floor.timers import Timers
from server.metrics import Metrics
from server.store.store import Store
from server.web.appkeys import SCOREBOARD
from tests.clock import ManualClock
from tests.conftest import ROOT
from tests.test_fairness import drive_scenario, fair_gateway, grab, sample, scrape
from tests.test_policies import arbiter_for, floor, publish

DASHBOARD = ROOT / "dashboards" / "leadgrab.json"
METRIC = re.compile(r"\bleadgrab_[a-z0-9_]+")


def exported_names(text: str) -> set[str]:
    """Every name a query may use: families from # TYPE lines, with a histogram's series."""
    names: set[str] = set()
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        names.add(name)
        if kind == "histogram":
            names.update(f"{name}_{part}" for part in ("bucket", "sum", "count"))
    return names


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool is not installed (CI installs Debian's prometheus package)")
async def test_promtool_finds_no_errors_or_lint_warnings(redis: Redis, redis_url: str,
                                                          tmp_path: Path,
                                                          clock: ManualClock) -> None:
    async with fair_gateway(redis, redis_url, tmp_path, clock) as gw:
        idle = await scrape(gw)
        await drive_scenario(gw, clock)
        await gw.app[SCOREBOARD].publish("north")
        busy = await scrape(gw)
    for text in (idle, busy):
        done = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                              capture_output=True, timeout=30)
        assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), (
            done.stdout + done.stderr)


def test_rep_series_stop_above_the_roster_bound() -> None:
    metrics = Metrics(rep_label_max=2)
    metrics.reps.set_roster({"a": "north", "b": "north"})
    metrics.reps.claimed("a", "L1", "rejected", "cooldown")
    metrics.reps.claimed("zed", "L1", "won", None)  # not on the roster: no series
    text = generate_latest(metrics.registry).decode()
    assert sample(text, "leadgrab_rep_rejections_total", rep="a", reason="cooldown") == 1
    assert sample(text, "leadgrab_rep_wins_total", rep="b") == 0
    assert sample(text, "leadgrab_rep_wins_total", rep="zed") is None
    metrics.reps.set_roster({"a": "north", "b": "north", "c": "north"})
    metrics.reps.claimed("a", "L2", "won", None)
    text = generate_latest(metrics.registry).decode()
    assert not re.search(r"^leadgrab_rep_", text, re.MULTILINE)


async def test_a_missed_followup_is_counted_once(store: Store, clock: ManualClock) -> None:
    arbiter, metrics = await arbiter_for(store, floor()), Metrics()
    metrics.reps.set_roster({m.id: m.team for m in arbiter.roster.members.values()})
    await publish(arbiter, "L1")
    assert (await arbiter.claim("ann", "L1", "a")).result is Outcome.WON
    clock.advance(10_000)  # followup_sla_ms
    for _ in range(2):  # the second process finds the timer gone
        await Timers(arbiter, ["north"], metrics).fire_due()
    text = generate_latest(metrics.registry).decode()
    assert sample(text, "leadgrab_rep_followup_misses_total", rep="ann") == 1
    assert sample(text, "leadgrab_rep_followup_misses_total", rep="ben") == 0


async def test_a_large_roster_exports_team_series_only(redis: Redis, redis_url: str,
                                                       tmp_path: Path) -> None:
    async with fair_gateway(redis, redis_url, tmp_path, None,
                            "metrics_rep_label_max = 4") as gw:  # five reps on the roster
        await grab(gw, "r0", "NOPE")
        await gw.app[SCOREBOARD].publish("north")
        text = await scrape(gw)
    assert not re.search(r"^leadgrab_rep_", text, re.MULTILINE)
    assert sample(text, "leadgrab_claims_total", result="rejected", reason="not_found") == 1
    assert sample(text, "leadgrab_team_contests", team="north", window="1h") == 0


async def test_dashboard_uses_only_exported_metrics(redis: Redis, redis_url: str,
                                                    tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert (variables["datasource"]["type"], variables["datasource"]["query"]) == (
        "datasource", "prometheus")
    targets = [t for p in dashboard["panels"] for t in p.get("targets", [])]
    assert targets and all(t["datasource"]["uid"] == "${datasource}" for t in targets)
    used = {name for t in targets for name in METRIC.findall(t["expr"])}
    used.update(METRIC.findall(variables["team"]["definition"]))
    async with fair_gateway(redis, redis_url, tmp_path, None) as gw:
        exported = exported_names(await scrape(gw))
    assert used and not used - exported, f"not exported: {sorted(used - exported)}"
