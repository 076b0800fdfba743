"""Benchmark (by hand, not in the suite): audit entries replayed per second against the claim
script's own throughput, measured in the same run on the same kind of private Redis.

    flock /tmp/leadgrab-bench.lock .venv/bin/python -m tests.replay_bench [DAY.jsonl]

DAY.jsonl: an audit export; without one, the working day of tests/test_working_day.py is
simulated first (on its own private Redis) and its audit replayed.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

from redis.asyncio import Redis

from loadtest import ceiling, serverconfig
from server.config import parse_config
from server.floor.arbiter import Arbiter
from server.floor.lead import NewLead
from server.replay.record import read_jsonl, record
from server.replay.replayer import replay
from server.replay.runs import team_of
from server.replay.sandbox import Clock, private_redis
from server.store.store import Retention, Store
from tests.clock import ManualClock
from tests.conftest import LIMITS
from tests.test_working_day import END_MS, Floor, day_config, local_ms, make_leads

SECONDS = 5.0
REPS = 20
CONFIG = "[teams.lt]\nrules = { max_open = 1000000, max_daily = 1000000, " \
         "cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }\n" + "".join(
             f'[[reps]]\nid = "{serverconfig.rep_id(n)}"\nteam = "lt"\n' for n in range(REPS))


async def claims(url: str) -> dict[str, float]:
    """claim_lead.lua one awaited call at a time through the Store (as the replay drives it),
    then pipelined 128 at a time (loadtest's ceiling)."""
    clock = Clock(1_800_000_000_000)
    store = await Store.open(url, Retention(1000, 100_000_000, 86_400_000), clock)
    config = parse_config(CONFIG)
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    leads = [f"B{n}" for n in range(500)]
    for lead in leads:
        await arbiter.publish(NewLead(id=lead, team="lt"), "bench")
    ops, started = 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS:
        clock.now_ms += 1
        await arbiter.claim(serverconfig.rep_id(ops % REPS), leads[(ops // 7) % 500], f"s{ops}")
        ops += 1
    sequential = ops / (time.perf_counter() - started)
    await store.aclose()
    piped = await ceiling.claim_script(url, "lt", REPS, SECONDS, "bench", leads)
    return {"sequential_per_s": round(sequential), "pipelined_per_s": piped["ops_per_s"]}


async def working_day() -> list[dict[str, str]]:
    """The audit of tests/test_working_day.py's simulated day."""
    async with private_redis() as url:
        clock = ManualClock(local_ms(5, 30))
        redis = Redis.from_url(url, decode_responses=True)
        store = Store(redis, LIMITS, clock)
        config, rng = day_config(), random.Random(20270105)
        arbiter = Arbiter(store, config)
        await arbiter.apply_rules(config)
        await Floor(arbiter, redis, clock, rng, make_leads(rng)).run(END_MS)
        rows = await store.audit_range("north", "-", "+", 10**7)
        await store.aclose()
    return [{"id": entry_id, **fields} for entry_id, fields in rows]


async def main(path: str | None) -> None:
    entries = read_jsonl(Path(path).read_text().splitlines()) if path else await working_day()
    rec = record(entries)
    async with private_redis() as url:
        script = await claims(url)
    started = time.perf_counter()
    run = await replay(rec, team_of(rec, None, None))
    wall = time.perf_counter() - started
    span_s = (rec.steps[-1].ts - rec.steps[0].ts) / 1000
    print(json.dumps({
        "entries": len(entries), "inputs": run.inputs, "replay_s": round(run.seconds, 2),
        "shared": run.shared, "plain_reads": run.reads,
        "replay_wall_s": round(wall, 2), "entries_per_s": round(len(entries) / run.seconds),
        "recorded_span_s": span_s, "fraction_of_day": run.seconds / span_s, **script,
        "ratio_to_sequential": round(script["sequential_per_s"] * run.seconds / len(entries), 2),
        "ratio_to_pipelined": round(script["pipelined_per_s"] * run.seconds / len(entries), 2),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }, indent=1))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
