"""One load-test run, phase by phase: target, ceilings, clients, invariant check, result."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest import audit, ceiling, cost, echo, invariant, machine, profiler, report, target
from loadtest.contention import Contention, lead_id
from loadtest.pool import Pool
from loadtest.publisher import Publisher
from loadtest.report import RunData
from loadtest.scenario import Scenario
from loadtest.tally import Tally
from loadtest.target import Target
from loadtest.worker import Role, WorkerPlan

SETTLE_CONNECT_S = 1.0


@dataclass(frozen=True)
class Options:
    """Where to aim and what to keep, from the command line."""

    url: str | None = None
    secret: str | None = None
    team: str = "lt"
    redis_url: str | None = None
    server_pid: int | None = None
    workdir: Path | None = None
    profile: Path | None = None
    quiet: bool = False
    server_loop: str = "asyncio"
    server_command: list[str] | None = None
    server_workers: int = 1
    pin_server: bool = False


async def execute(scenario: Scenario, options: Options) -> dict[str, Any]:
    """Run the scenario and return the result document."""
    run_id = "lt" + secrets.token_hex(3)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    described = machine.describe()
    machine.raise_nofile()
    if options.pin_server:
        if options.url:
            raise target.TargetError("--pin-server pins a server it starts: not with --url")
        described["pinned"] = machine.pin_server()
    async with _target(scenario, options) as aim:
        aim = dataclasses.replace(aim, redis_url=await target.team_node(aim.redis_url, aim.team))
        ceilings = await _redis_ceilings(scenario, aim, run_id)
        if "echo" in scenario.wanted_ceilings():
            ceilings["echo"] = await _echo(scenario, run_id, options.quiet)
        data = await _main(scenario, aim, run_id, options)
        data.ceilings, data.started_at, data.machine = ceilings, started_at, described
        data.target["redis_version"] = await target.redis_version(aim.redis_url)
    return report.build(data)


@contextlib.asynccontextmanager
async def _target(scenario: Scenario, options: Options) -> AsyncIterator[Target]:
    if options.url:
        if not options.secret:
            raise target.TargetError("--url needs --secret to mint rep and integration tokens")
        yield Target(options.url.rstrip("/"), options.secret, options.team, options.redis_url,
                     options.server_pid)
        return
    with contextlib.ExitStack() as stack:
        folder = options.workdir or Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="lg-lt-")))
        folder.mkdir(parents=True, exist_ok=True)
        command = options.server_command or target.server_command(options.server_loop)
        async with target.spawned(scenario.reps, scenario.arbitration(), folder, options.redis_url,
                                  command, options.server_workers) as aim:
            yield aim


async def _redis_ceilings(scenario: Scenario, aim: Target, run_id: str) -> dict[str, Any]:
    if "redis" not in scenario.wanted_ceilings() or aim.redis_url is None:
        return {}
    seconds = scenario.ceiling_s
    async with Publisher(aim, run_id + "c") as publisher:  # not the run's leads: "<run>c-..."
        leads = await publisher.upfront(ceiling.LEADS)
    return {
        "redis_set_nx": await ceiling.set_nx(aim.redis_url, aim.team, seconds, run_id),
        "claim_script": await ceiling.claim_script(aim.redis_url, aim.team, scenario.reps,
                                                   seconds, run_id, leads),
    }


async def _echo(scenario: Scenario, run_id: str, quiet: bool) -> dict[str, Any]:
    """The transport ceiling: the same clients and loop against a plain echo server."""
    reps = [(i, f"e{i}", "") for i in range(scenario.reps)]
    leads = [lead_id(run_id + "e", i) for i in range(scenario.bench_leads)]
    async with echo.running() as (url, pid):
        plans = plans_for(scenario, url, reps, run_id, "echo", leads)
        async with Pool(plans, "echo", quiet) as pool:
            await pool.connect(scenario.connect_timeout_s)
            running = asyncio.ensure_future(pool.run(scenario.warmup_s + scenario.duration_s))
            window = await _after_warmup(scenario.warmup_s, pid, pool)
            await running
            used = window.result()
            tally = await pool.collect()
    per_s = round(tally.claim.count / scenario.duration_s, 1)
    return {"clients": tally.connected, "per_s": per_s,
            "latency_ms": tally.claim.summary(), "curve_ms": tally.claim.curve(),
            "errors": dict(tally.errors), **cost.per_rate(used, per_s, "message")}


async def _after_warmup(warmup_s: float, pid: int | None, pool: Pool) -> machine.CpuWindow:
    """A CPU window opened once the warm-up (bench, echo) is over: it covers the measured
    claims, not the first wins whose lead_taken fans out to every rep."""
    await asyncio.sleep(warmup_s)
    return machine.CpuWindow(pid, pool.pids())


def plans_for(scenario: Scenario, url: str, reps: list[tuple[int, str, str]], run_id: str,
              role: Role, leads: list[str]) -> list[WorkerPlan]:
    """Split the reps over the workers, round robin."""
    contention = Contention(scenario.reps, scenario.claimers_per_lead, scenario.reaction,
                            scenario.seed)
    count = min(scenario.workers, len(reps))
    warmup = scenario.warmup_s if role in ("bench", "echo") else 0.0
    return [WorkerPlan(n, role, url, reps[n::count], run_id, contention, scenario.codec,
                       scenario.compression, leads, scenario.connect_concurrency,
                       scenario.connect_timeout_s, warmup) for n in range(count)]


async def _main(scenario: Scenario, aim: Target, run_id: str, options: Options) -> RunData:
    mark = await audit.mark(aim.redis_url, aim.team) if aim.redis_url else None
    reps = aim.rep_tokens(scenario.reps)
    async with Publisher(aim, run_id) as publisher:
        leads = await publisher.upfront(scenario.bench_leads) if scenario.kind == "bench" else []
        plans = plans_for(scenario, aim.ws_url, reps, run_id, scenario.kind, leads)
        server: dict[str, Any] = {"pid": aim.server_pid, "rss_kb_before": _rss(aim)}
        async with Pool(plans, scenario.kind, options.quiet) as pool:
            connect_s = await _phase(scenario, aim, pool, publisher, options, server)
            tally = await pool.collect()
    verdict, view = await _verdict(tally, aim, run_id, mark)
    _per_connection(server, tally.connected, aim)
    where = {"url": aim.http_url, "spawned": options.url is None,
             "server_loop": options.server_loop if options.url is None else None,
             "server_command": options.server_command,
             "server_workers": options.server_workers if options.url is None else None}
    live = publisher if scenario.kind == "live" else None
    return RunData(scenario, run_id, "", {}, where, tally, scenario.duration_s, connect_s,
                   verdict, live, server=server, audit=view)


async def _phase(scenario: Scenario, aim: Target, pool: Pool, publisher: Publisher,
                 options: Options, server: dict[str, Any]) -> float:
    """Connect, read the server's RSS, run (profiled if asked); returns the connect time."""
    started = time.monotonic()
    await pool.connect(scenario.connect_timeout_s)
    connect_s = time.monotonic() - started
    await asyncio.sleep(SETTLE_CONNECT_S)
    server["rss_kb_after"] = _rss(aim)
    driving = asyncio.gather(_drive(scenario, pool, publisher), profiler.record(
        aim.server_pid, _warmup(scenario), scenario.duration_s, options.profile))
    window = await _after_warmup(_warmup(scenario), aim.server_pid, pool)
    await driving
    server.update(window.result())
    server["rss_kb_end"] = _rss(aim)
    return connect_s


async def _drive(scenario: Scenario, pool: Pool, publisher: Publisher) -> None:
    if scenario.kind == "bench":
        await pool.run(scenario.warmup_s + scenario.duration_s)
    elif scenario.kind == "live":
        await asyncio.gather(pool.run(scenario.duration_s + scenario.settle_for_s()),
                             publisher.at_rate(scenario.rate_per_s, scenario.duration_s))
    else:
        await pool.run(scenario.duration_s)


async def _verdict(tally: Tally, aim: Target, run_id: str,
                   mark: str | None) -> tuple[invariant.Verdict, audit.AuditView | None]:
    verdict = invariant.check_clients(tally.leads, tally.unanswered)
    if aim.redis_url is None or mark is None:
        return verdict, None
    view = await audit.read(aim.redis_url, aim.team, run_id + "-", mark)
    invariant.check_audit(verdict, tally.leads, view.winners, view.settles)
    return verdict, view


def _warmup(scenario: Scenario) -> float:
    return scenario.warmup_s if scenario.kind == "bench" else 0.0


def _rss(aim: Target) -> int | None:
    return machine.rss_kb(aim.server_pid) if aim.server_pid else None


def _per_connection(server: dict[str, Any], connected: int, aim: Target) -> None:
    before, after = server.get("rss_kb_before"), server.get("rss_kb_after")
    if before and after and connected:
        server["rss_kb_per_connection"] = round((after - before) / connected, 2)
    server["nofile"] = machine.nofile_of(aim.server_pid) if aim.server_pid else None
