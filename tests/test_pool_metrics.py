"""Pool health on /metrics: the gauges match the store after a scripted sequence; promtool."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from server.store import keys
from server.web.appkeys import SCOREBOARD
from server.web.auth import Role
from tests.test_fairness import call, fair_gateway, grab, sample, scrape
from tests.test_metrics import DASHBOARD


async def open_in_store(redis: Redis) -> list[tuple[str, int]]:
    """(id, published ms) of every lead hash in state open, read past the index."""
    found = []
    async for key in redis.scan_iter(match=keys.lead("north", "*")):
        fields = await redis.hgetall(key)
        if fields.get("state") == "open":
            found.append((key.rsplit(":", 1)[1], int(fields["release_base_ms"])))
    return sorted(found)


async def test_pool_gauges_match_the_store(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    async with fair_gateway(redis, redis_url, tmp_path, None, "pool_stale_after_s = 1") as gw:
        crm = gw.role_token(Role.INTEGRATION, "crm")
        for lead in ("OLD", "GONE"):
            await call(gw, "POST", "/api/leads", crm, {"id": lead, "team": "north"})
        await asyncio.sleep(1.2)  # OLD goes stale; GONE is claimed before it counts
        assert (await grab(gw, "r0", "GONE"))["result"] == "won"
        for lead in ("NEW", "TAKEN"):
            await call(gw, "POST", "/api/leads", crm, {"id": lead, "team": "north"})
        assert (await grab(gw, "r1", "TAKEN"))["result"] == "won"
        await gw.app[SCOREBOARD].publish("north")
        text = await scrape(gw)
        now_ms = int(time.time() * 1000)
        stored = await open_in_store(redis)
    assert [lead for lead, _ in stored] == ["NEW", "OLD"]
    assert sample(text, "leadgrab_pool_open_leads", team="north") == len(stored) == 2
    assert sample(text, "leadgrab_pool_stale_leads", team="north") == 1  # OLD
    oldest = sample(text, "leadgrab_pool_oldest_open_age_seconds", team="north")
    age_s = (now_ms - min(ms for _, ms in stored)) / 1000
    assert oldest is not None and 1.2 <= oldest <= age_s + 0.05


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
async def test_promtool_passes_with_the_pool_gauges(redis: Redis, redis_url: str,
                                                    tmp_path: Path) -> None:
    async with fair_gateway(redis, redis_url, tmp_path, None) as gw:
        crm = gw.role_token(Role.INTEGRATION, "crm")
        await call(gw, "POST", "/api/leads", crm, {"id": "P1", "team": "north"})
        await gw.app[SCOREBOARD].publish("north")
        text = await scrape(gw)
    assert "leadgrab_pool_open_leads" in text
    done = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                          capture_output=True, timeout=30)
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout


def test_every_panel_that_filters_by_team_uses_the_team_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            series = re.findall(r"\bleadgrab_[a-z0-9_]+(?:\{[^}]*\})?", expr)
            for one in series:
                name = one.split("{", 1)[0]
                if name.startswith(("leadgrab_team_", "leadgrab_pool_", "leadgrab_rep_",
                                    "leadgrab_claims_total", "leadgrab_fairness_")):
                    assert 'team=~"$team"' in one or 'team="$team"' in one, (
                        f"panel {panel.get('title')!r}: {one} ignores $team")


def test_the_dashboard_shows_pool_health() -> None:
    exprs = " ".join(t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"]
                     for t in p.get("targets", []))
    for name in ("leadgrab_pool_open_leads", "leadgrab_pool_oldest_open_age_seconds",
                 "leadgrab_pool_stale_leads"):
        assert name in exprs
