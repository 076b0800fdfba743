"""The load tester: a tiny real run, its report's shape, and a broken server it must catch."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from loadtest import progress, summary
from loadtest.contention import Contention, lead_id, lead_index
from loadtest.cost import first_spread
from loadtest.fairness import jain
from loadtest.invariant import check_audit, check_clients
from loadtest.scenario import ReactionGroup, ScenarioError, load, parse_reaction
from loadtest.tally import LeadSeen, Tally
from loadtest.window import Provisional, WindowTally

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
    assert result["cost"]["frames"] == 200 and result["cost"]["cpu_us_per_frame"] > 0
    spread = result["fanout"]["first_spread"]
    assert spread["leads"] == 10 and spread["reps"] == 20 and 0 < spread["top_share"] <= 1
    assert 0 <= spread["chi2_p"] <= 1 and "first receipt:" in output


WINDOW = """
kind = "live"
mode = "window"
window_ms = 100
reps = 4
workers = 2
duration_s = 1.5
rate_per_s = 4.0
claimers_per_lead = 4
reaction = [{ count = 2, min_ms = 0, max_ms = 1 }, { count = 2, min_ms = 20, max_ms = 40 }]
ceilings = []
settle_s = 0.5
connect_timeout_s = 20
[targets]
jain_min = 0.01
max_errors = 0
"""


async def test_window_run_reports_jain_and_the_latency_beyond_the_window(
        tmp_path: Path, redis_url: str) -> None:
    path, out_json = tmp_path / "window.toml", tmp_path / "result.json"
    path.write_text(WINDOW)
    code, output = await run_cli("--scenario", str(path), "--redis-url", redis_url,
                                 "--json", str(out_json), "--fail-on-targets")
    assert code == 0, output
    result = json.loads(out_json.read_text())
    fair, window, inv = result["fairness"], result["window"], result["invariants"]
    assert fair["eligible_reps"] == 4 and 0.25 <= fair["jain"] <= 1 and fair["wins"] == 6
    assert [g["reps"] for g in fair["groups"]] == [2, 2] and len(result["wins_per_rep"]) == 4
    assert window["window_ms"] == 100 and window["policy"] == "lottery"
    assert window["pending_answers"] == window["final_answers"] > 0
    assert window["final_missing"] == 0 and result["claims"]["unanswered"] == 0
    for name in ("pending_ms", "final_ms", "added_ms", "opener_added_ms", "settle_lag_ms"):
        assert set(window[name]) >= PERCENTILES, name
    assert window["final_ms"]["max"] >= 100 > window["pending_ms"]["p50"]
    assert inv["ok"] and inv["audit_checked"] and inv["leads_checked"] == 6
    assert inv["audit_leads_won"] == inv["audit_leads_settled"] == 6
    assert result["claims"]["results"].get("won") == 6
    assert "Jain's index" in output and "added beyond the window" in output


async def test_bench_is_measured_against_the_echo_ceiling(tmp_path: Path, redis_url: str) -> None:
    out_json = tmp_path / "result.json"
    code, output = await run_cli(
        "--scenario", str(scenario_file(tmp_path, 'kind = "bench"\n')), "--duration", "1",
        "--redis-url", redis_url, "--json", str(out_json), "--pin-server")
    assert code == 0, output
    result = json.loads(out_json.read_text())
    last = max(os.sched_getaffinity(0))
    assert result["machine"]["pinned"].startswith(f"server on CPU {last};")
    assert f"pinned: server on CPU {last}" in output
    echo = result["ceilings"]["echo"]
    assert echo["clients"] == 20 and echo["per_s"] > 0 and set(echo["latency_ms"]) >= PERCENTILES
    for name in ("claims_vs_echo_throughput", "claim_p99_vs_echo_p99", "claims_vs_claim_script"):
        assert result["ratios"][name]["ratio"] > 0
    assert result["claims"]["per_s"] > 0
    assert result["invariants"]["ok"] and result["invariants"]["audit_leads_won"] == 50
    assert "ratio claims_vs_echo_throughput" in output
    assert echo["cpu_us_per_message"] > 0 and result["cost"]["cpu_us_per_claim"] > 0
    assert result["ratios"]["cpu_per_claim_vs_echo_message"]["ratio"] > 0
    assert "µs per claim" in output and "µs per echo message" in output


async def test_cpu_of_every_server_worker_is_summed(tmp_path: Path, redis_url: str) -> None:
    out_json = tmp_path / "result.json"
    code, output = await run_cli(
        "--scenario", str(scenario_file(tmp_path, 'kind = "bench"\nceilings = []\n')),
        "--duration", "1", "--server-workers", "2", "--redis-url", redis_url,
        "--json", str(out_json))
    assert code == 0, output
    result = json.loads(out_json.read_text())
    assert result["target"]["server_workers"] == 2 and result["invariants"]["ok"]
    # the supervisor idles while its workers decide the claims: without them the figure is ~0
    assert result["cost"]["cpu_us_per_claim"] > 20


def test_pinning_splits_the_cpus_between_server_and_load() -> None:
    """--pin-server: the load tester keeps all CPUs but the last; a server it starts gets it."""
    script = (
        "import os, subprocess, sys\n"
        "from loadtest import machine\n"
        "machine.pin_server()\n"
        "child = subprocess.run([sys.executable, '-c', 'import os; "
        "print(sorted(os.sched_getaffinity(0)))'], preexec_fn=machine.server_child_setup,"
        " capture_output=True, text=True, check=True)\n"
        "print(sorted(os.sched_getaffinity(0)), child.stdout.strip())\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    cpus = sorted(os.sched_getaffinity(0))
    assert done.stdout.strip() == f"{cpus[:-1]} {[cpus[-1]]}"


def test_first_spread_names_the_favourite() -> None:
    tally = Tally(connected=4)
    for n in range(40):
        tally.lead(f"L{n}").first_rep = "r1" if n % 2 else f"r{n % 4}"
    spread = first_spread(tally)
    assert spread["top_rep"] == "r1" and spread["top_share"] == 0.5
    assert spread["fair_share"] == 0.25 and spread["chi2_p"] < 0.001


def test_progress_to_a_pipe_is_plain_lines() -> None:
    out = io.StringIO()
    with progress.Lines("bench", 10, "s", out) as lines:
        for n in range(100):
            lines.n = n / 10
            lines.set_postfix(claims=n)
    text = out.getvalue()
    assert "\r" not in text and text.count("\n") == 1 and "bench: 9.9/10 s" in text


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


def test_reaction_groups_by_exact_count() -> None:
    groups = parse_reaction("5x0-1,15x30-60")
    assert [(g.count, g.min_ms, g.max_ms) for g in groups] == [(5, 0, 1), (15, 30, 60)]
    split = Contention(20, 20, groups, 1)
    assert [split.group_of(i) for i in (0, 4, 5, 19)] == [0, 0, 1, 1]
    assert 30 <= split.delay_ms(7, 5) <= 60 and split.delay_ms(7, 4) <= 1
    assert load(None, {"reps": 20, "reaction": groups}).reps == 20
    with pytest.raises(ScenarioError, match="counts sum to 20"):
        load(None, {"reps": 21, "reaction": groups})
    with pytest.raises(ScenarioError, match="every group a count"):
        load(None, {"reps": 20, "reaction": (*groups, ReactionGroup(share=0.5))})
    with pytest.raises(ScenarioError, match="reaction"):
        parse_reaction("5x0.5:0-1")


def test_window_fields_are_validated() -> None:
    scenario = load(None, {"mode": "window", "window_ms": 200, "window_policy": "least_loaded"})
    assert tuple(scenario.arbitration()) == ("window", 200, "least_loaded")
    assert scenario.settle_for_s() == scenario.settle_s + 0.2
    for bad in ({"mode": "auction"}, {"window_ms": 0}, {"window_policy": "fastest"}):
        with pytest.raises(ScenarioError, match=next(iter(bad))):
            load(None, bad)


def test_jain_index() -> None:
    assert jain([100, 100, 100, 100]) == 1.0
    assert jain([400, 0, 0, 0]) == 0.25
    assert jain([]) is None and jain([0, 0]) is None


async def test_a_pending_claim_waits_for_its_final_answer() -> None:
    tally, errors = WindowTally(), Counter[str]()
    waiting = Provisional(tally, errors)
    waiting.hold("a", 0.0, 0.002, {"retry_after_ms": 100}, 100, recording=True)
    waiting.hold("b", 0.0, 0.002, {"retry_after_ms": 60}, 100, recording=True)
    assert waiting.settle("a", 0.105, recording=True) and not waiting.settle("a", 0.2, True)
    assert tally.opener_added.count == tally.added.count == 1
    assert 4.9 <= tally.added.ms_at(50) <= 5.1 and tally.held == 2 and tally.finals == 1
    assert waiting.abandon() == 1 and tally.missing == 1
    assert errors["window:no_final_answer"] == 1 and len(waiting) == 0


def test_invariant_counts_double_winners_orphans_and_audit_disagreement() -> None:
    leads = {"a": LeadSeen(winners=["r1"], lost=3), "b": LeadSeen(winners=["r1", "r2"]),
             "c": LeadSeen(lost=2), "d": LeadSeen(winners=["r4"])}
    verdict = check_clients(leads, unanswered=0)
    assert verdict.multiple_winners == ["b"] and verdict.lost_without_winner == ["c"]
    check_audit(verdict, leads, {"a": ["r1"], "b": ["r1"], "d": ["r5", "r4"]})
    assert verdict.audit_multiple_winners == ["d"] and verdict.audit_mismatch == ["b", "d"]
    assert verdict.violations == 5 and not verdict.to_dict()["ok"]
    assert check_clients({"c": LeadSeen(lost=2)}, unanswered=1).violations == 0
    settled = check_clients({"w": LeadSeen(winners=["r1"], lost=1)}, unanswered=0)
    check_audit(settled, {}, {"w": ["r1"], "x": ["r2"]}, {"w": "r1", "x": "r3"})
    assert settled.audit_settle_mismatch == ["x"] and settled.audit_leads_settled == 2


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
