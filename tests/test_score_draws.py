"""Score-weighted window draws: weights from the scorecard's score, held within a floor and a
cap; 10,000 seeded draws run inside Redis (one EVAL of lib/draw.lua in a loop)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from redis.asyncio import Redis

from server.config import parse_config
from server.store import keys
from server.store.scripts import lua_dir, source
from server.store.store import Store
from tests.clock import ManualClock
from tests.conftest import BASE_CONFIG
from tests.helpers import arbiter_for, publish

DRAWS = 10_000
TOLERANCE = 0.02  # absolute, on each share: 4 standard deviations at n = 10,000 (p <= 0.5)
SCORES = {"alice": 80.0, "bob": 30.0, "carol": -10.0, "dave": 500.0}
FLOOR, CAP = 5.0, 100.0
TEAM = f"""
[teams.north]
timezone = "UTC"
mode = "window"
window_ms = 1000
window_policy = "weighted"
weight_from = "score"
weight_floor = {FLOOR}
weight_cap = {CAP}
rules = {{ max_open = 100, max_daily = 1000, cooldown_after_claim_ms = 0, penalty_cooldown_ms = 0 }}
"""
REPS = "".join(f'[[reps]]\nid = "{rep}"\nteam = "north"\n' for rep in SCORES)

PROBE = """-- @include "lib/draw.lua"
local team, value, n = cjson.decode(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local how = weight_source(team, value)
local list = {}
for i, key in ipairs(KEYS) do
  list[#list + 1] = {id = ARGV[3 + i], weight = draw_weight(how, {weight = 1}, key)}
end
local wins = {}
for i = 1, n do
  local _, u = draw_seed('L', redis.sha1hex('seed:' .. i))
  local c = weighted(list, u)
  wins[c.id] = (wins[c.id] or 0) + 1
end
local weights = {}
for _, c in ipairs(list) do weights[c.id] = c.weight end
return cjson.encode({wins = wins, weights = weights})
"""


async def draw_many(redis: Redis, tmp_path: Path, team_json: str, value: float,
                    reps: list[str]) -> dict[str, dict[str, float]]:
    (tmp_path / "probe.lua").write_text(PROBE, encoding="utf-8")
    (tmp_path / "lib").symlink_to(lua_dir() / "lib")
    rep_keys = [keys.rep_state("north", rep) for rep in reps]
    raw = await redis.eval(source("probe", tmp_path), len(rep_keys), *rep_keys,  # type: ignore[misc]
                           team_json, value, DRAWS, *reps)
    return json.loads(raw)  # type: ignore[no-any-return]


async def test_ten_thousand_draws_follow_clamped_scores(redis: Redis, store: Store,
                                                        tmp_path: Path) -> None:
    config = parse_config(TEAM + REPS)
    await store.write_scores("north", SCORES)
    found = await draw_many(redis, tmp_path, config.teams["north"].model_dump_json(), 0,
                            sorted(SCORES))
    weights = {rep: min(max(score, FLOOR), CAP) for rep, score in SCORES.items()}
    assert found["weights"] == pytest.approx(weights)
    total = sum(weights.values())
    for rep, weight in weights.items():
        share = found["wins"].get(rep, 0) / DRAWS
        assert share == pytest.approx(weight / total, abs=TOLERANCE), rep
    assert found["wins"]["carol"] > 0  # the floor: a negative score still wins sometimes
    assert found["wins"]["dave"] / DRAWS < CAP / total + TOLERANCE  # the cap holds


async def test_a_rep_without_a_score_draws_at_the_floor_and_rule_weights_stay(
        redis: Redis, store: Store, tmp_path: Path) -> None:
    by_rule = parse_config(TEAM.replace('weight_from = "score"', "") + REPS)
    found = await draw_many(redis, tmp_path, by_rule.teams["north"].model_dump_json(), 0,
                            ["alice", "bob"])
    assert found["weights"] == {"alice": 1, "bob": 1}  # the `weight` rule, no score read
    (tmp_path / "lib").unlink()
    by_score = parse_config(TEAM + REPS)
    found = await draw_many(redis, tmp_path, by_score.teams["north"].model_dump_json(), 0,
                            ["alice", "bob"])
    assert found["weights"] == {"alice": FLOOR, "bob": FLOOR}


async def test_a_band_sets_its_own_source_floor_and_cap(redis: Redis, store: Store,
                                                        tmp_path: Path) -> None:
    band = ('bands = [ { min_value = 1000, mode = "window", window_policy = "weighted", '
            'weight_floor = 20.0, weight_cap = 50.0 } ]\n')
    config = parse_config(TEAM.replace('weight_cap = 100.0\n', f"weight_cap = 100.0\n{band}")
                          + REPS)
    await store.write_scores("north", SCORES)
    found = await draw_many(redis, tmp_path, config.teams["north"].model_dump_json(), 5000,
                            sorted(SCORES))
    assert found["weights"] == {"alice": 50, "bob": 30, "carol": 20, "dave": 50}


async def test_settling_a_window_weighs_contenders_by_score(store: Store,
                                                           clock: ManualClock) -> None:
    arbiter = await arbiter_for(store, TEAM + REPS)
    await store.write_scores("north", SCORES)
    await publish(arbiter, "W1", value=10)
    for rep in SCORES:
        assert (await arbiter.claim(rep, "W1", f"r-{rep}")).result == "pending"
    clock.advance(1500)
    settled = await arbiter.settle("north", "W1")
    assert settled.detail in SCORES
    rows = await store.audit_range("north", "-", "+", 100)
    settle = next(f for _, f in rows if f["action"] == "settle")
    pool = {c["rep"]: c["weight"] for c in json.loads(settle["contenders"])}
    assert pool == {"alice": 80, "bob": 30, "carol": FLOOR, "dave": CAP}


def test_floor_above_cap_is_refused() -> None:
    with pytest.raises(Exception, match="weight_floor"):
        parse_config(BASE_CONFIG.replace('timezone = "Europe/Berlin"',
                                         'timezone = "UTC"\nweight_floor = 9.0\n'
                                         'weight_cap = 2.0'))
