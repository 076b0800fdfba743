"""The load tester: a tiny real run, its report's shape, and a broken server it must catch."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from loadtest import summary
from loadtest.contention import Contention, lead_id, lead_index
from loadtest.invariant import check_audit, check_clients
from loadtest.scenario import ReactionGroup, ScenarioError, load, parse_reaction
from loadtest.tally import LeadSeen

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 50
PERCENTILES = {"count", "mean", "p50", "p90", "p99", "p99.9", "max"}
SMALL = """
reps = 20
workers = 2
duration_s = 2.0
rate_per_s = 5.0
claimers_per_lead = 3
reaction = [{ share = 0.5, min_ms = 0, max_ms = 10 }, { share = 0.5, min_ms = 10, max_ms = 40 }]
bench_leads = 50
ceiling_s = 0.3
warmup_s = 0.3
settle_s = 1.0
connect_timeout_s = 20
"""


async def run_cli(*args: str) -> tuple[int, str]:
    """Run `python -m loadtest.cli` and return its exit code and output."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "loadtest.cli", "--quiet", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


def scenario_file(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(extra + SMALL)
    return path


async def test_live_run_reports_latencies_and_holds_the_invariant(
        tmp_path: Path, redis_url: str) -> None:
    out_json, out_png = tmp_path / "result.json", tmp_path / "result.png"
    code, output = await run_cli(
        "--scenario", str(scenario_file(tmp_path, 'kind = "live"\n')), "--redis-url", redis_url,
        "--json", str(out_json), "--png", str(out_png))
    assert code == 0, output
    result = json.loads(out_json.read_text())
    assert out_png.stat().st_size > 0
    assert {"claims", "fanout", "connections", "invariants", "ceilings", "ratios", "targets",
            "machine", "server", "wins_per_rep"} <= set(result)
    assert result["connections"]["connected"] == 20
    assert result["connections"]["error_count"] == 0
    assert set(result["claims"]["latency_ms"]) >= PERCENTILES
    assert set(result["fanout"]["last_rep_ms"]) >= PERCENTILES
    assert result["publish"]["published"] == 10
    assert result["fanout"]["missed"] == 0
    inv = result["invariants"]
    assert inv["ok"] and inv["violations"] == 0 and inv["audit_checked"]
    assert inv["leads_checked"] == 10 and inv["audit_leads_won"] == 10
    assert result["claims"]["results"].get("won") == 10
    assert {"redis_set_nx", "claim_script"} <= set(result["ceilings"])
    assert "claims_vs_claim_script" in result["ratios"]
    assert result["server"]["rss_kb_per_connection"] is not None


async def test_bench_is_measured_against_the_echo_ceiling(tmp_path: Path, redis_url: str) -> None:
    out_json = tmp_path / "result.json"
    code, output = await run_cli(
        "--scenario", str(scenario_file(tmp_path, 'kind = "bench"\n')), "--duration", "1",
        "--redis-url", redis_url, "--json", str(out_json))
    assert code == 0, output
    result = json.loads(out_json.read_text())
    echo = result["ceilings"]["echo"]
    assert echo["clients"] == 20 and echo["per_s"] > 0 and set(echo["latency_ms"]) >= PERCENTILES
    for name in ("claims_vs_echo_throughput", "claim_p99_vs_echo_p99", "claims_vs_claim_script"):
        assert result["ratios"][name]["ratio"] > 0
    assert result["claims"]["per_s"] > 0
    assert result["invariants"]["ok"] and result["invariants"]["audit_leads_won"] == 50
    assert "ratio claims_vs_echo_throughput" in output


# --------------------------------------------------------------- a server that breaks the rule


@pytest.fixture
async def double_winner() -> AsyncIterator[str]:
    """A test double that speaks just enough protocol, and answers `won` to every claim."""
    sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse(protocols=("leadgrab.v1.json",))
        await sock.prepare(request)
        sockets.add(sock)
        async for msg in sock:
            if msg.type == WSMsgType.TEXT:
                await sock.send_json(_answer(json.loads(msg.data)))
        return sock

    async def publish(request: web.Request) -> web.Response:
        body = await request.json()
        frame = {"type": "lead", "lead_id": body["id"], "team": body["team"], "seq": "1-0",
                 "published_ms": int(time.time() * 1000)}
        for sock in list(sockets):
            await sock.send_json(frame)
        return web.json_response({"lead_id": body["id"], "created": True}, status=201)

    app = web.Application()
    app.router.add_get("/ws", ws)
    app.router.add_post("/api/leads", publish)
    async with TestServer(app) as server:
        yield str(server.make_url("/")).rstrip("/")


def _answer(frame: dict[str, Any]) -> dict[str, Any]:
    if frame["type"] == "hello":
        return {"type": "welcome", "protocol": 1, "rep": "?", "team": "lt"}
    return {"type": "claim_result", "req_id": frame["req_id"], "lead_id": frame["lead_id"],
            "result": "won"}


async def test_a_second_winner_is_caught(tmp_path: Path, double_winner: str) -> None:
    out_json = tmp_path / "result.json"
    code, output = await run_cli(
        "--scenario", str(scenario_file(tmp_path, 'kind = "live"\nceilings = []\n')),
        "--url", double_winner, "--secret", "x" * 32, "--json", str(out_json))
    assert code == 1, output
    assert "INVARIANT BROKEN" in output
    inv = json.loads(out_json.read_text())["invariants"]
    assert not inv["ok"] and inv["violations"] == 10
    assert inv["client_multiple_winners"] == 10 and not inv["audit_checked"]


# ------------------------------------------------------------------------- the pure parts


def test_contention_is_the_same_in_every_worker() -> None:
    groups = (ReactionGroup(share=0.25, min_ms=0, max_ms=5),
              ReactionGroup(share=0.75, min_ms=100, max_ms=200))
    one, two = Contention(100, 20, groups, 7), Contention(100, 20, groups, 7)
    assert one.claimers_of(3) == two.claimers_of(3) and len(one.claimers_of(3)) == 20
    assert one.delay_ms(3, 10) == two.delay_ms(3, 10) <= 5
    assert 100 <= one.delay_ms(3, 90) <= 200
    assert [one.group_of(i) for i in (0, 24, 25, 99)] == [0, 0, 1, 1]
    assert lead_index("ltabc", lead_id("ltabc", 42)) == 42
    assert lead_index("ltabc", "other-0000042") is None


def test_invariant_counts_double_winners_orphans_and_audit_disagreement() -> None:
    leads = {"a": LeadSeen(winners=["r1"], lost=3), "b": LeadSeen(winners=["r1", "r2"]),
             "c": LeadSeen(lost=2), "d": LeadSeen(winners=["r4"])}
    verdict = check_clients(leads, unanswered=0)
    assert verdict.multiple_winners == ["b"] and verdict.lost_without_winner == ["c"]
    check_audit(verdict, leads, {"a": ["r1"], "b": ["r1"], "d": ["r5", "r4"]})
    assert verdict.audit_multiple_winners == ["d"] and verdict.audit_mismatch == ["b", "d"]
    assert verdict.violations == 5 and not verdict.to_dict()["ok"]
    assert check_clients({"c": LeadSeen(lost=2)}, unanswered=1).violations == 0


def test_scenario_flags_override_the_file_and_bad_values_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('kind = "bench"\nreps = 50\n')
    scenario = load(path, {"reps": 60, "reaction": parse_reaction("0.2:0-20,0.8:20-200")})
    assert (scenario.kind, scenario.reps, len(scenario.reaction)) == ("bench", 60, 2)
    assert scenario.wanted_ceilings() == ("redis", "echo")
    with pytest.raises(ScenarioError, match="reps"):
        load(path, {"reps": 20_000})
    with pytest.raises(ScenarioError, match="reaction"):
        parse_reaction("fast")


def test_compare_shows_the_change() -> None:
    old = {"run_id": "a", "claims": {"per_s": 100.0, "latency_ms": {"p99": 4.0}}}
    new = {"run_id": "b", "claims": {"per_s": 150.0, "latency_ms": {"p99": 2.0}}}
    text = summary.compare(old, new)
    assert "+50.0%" in text and "-50.0%" in text
