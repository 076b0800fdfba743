"""The config loader: good files load; bad ones raise ConfigError naming key, value, expectation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from server.config import (
    Config,
    ConfigError,
    RuleSet,
    ServerConfig,
    TeamConfig,
    load_config,
    parse_config,
    relative_to,
)
from server.floor.rules import effective_rep
from tests.conftest import BASE_CONFIG, ROOT

PRECEDENCE = """
[teams.north]
rules = { max_open = 2, max_daily = 5, cooldown_after_claim_ms = 1000, penalty_cooldown_ms = 60000 }

[tiers.gold]
rules = { max_open = 3, cooldown_after_claim_ms = 500 }

[[reps]]
id = "plain"
team = "north"

[[reps]]
id = "tiered"
team = "north"
tier = "gold"

[[reps]]
id = "own"
team = "north"
tier = "gold"
rules = { max_open = 7, max_daily = 0 }
"""


def replaced(old: str, new: str, text: str = BASE_CONFIG) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return str(info.value)


def test_repo_config_loads() -> None:
    path = ROOT / "config.toml"
    if not path.exists():
        pytest.skip("config.toml not written yet")
    config = load_config(path)
    assert config.teams
    for rep in config.reps:
        assert effective_rep(config, rep).team in config.teams


def test_base_config_loads_frozen() -> None:
    config = parse_config(BASE_CONFIG)
    assert isinstance(config, Config) and [r.id for r in config.reps] == ["alice", "bob", "carol"]
    with pytest.raises(ValueError, match="frozen"):
        config.teams["north"].rules.max_open = 9  # type: ignore[misc]


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(BASE_CONFIG, encoding="utf-8")
    assert load_config(path) == relative_to(parse_config(BASE_CONFIG), tmp_path)
    assert load_config(path).server.data_dir == str(tmp_path / "data")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(BASE_CONFIG + "\n[bogus]\nx = 1\n",
                     ["bogus", "unknown key", "expected one of", "teams"], id="unknown-top"),
        pytest.param(replaced("max_open = 2,", "max_open = 2, max_opn = 3,"),
                     ["teams.north.rules.max_opn", "unknown key", "max_open"],
                     id="unknown-nested"),
        pytest.param(replaced('id = "bob"', 'id = "bob"\nnick = "b"'),
                     ["reps.bob.nick", "unknown key", "regions"], id="unknown-rep-key"),
        pytest.param(replaced("max_open = 2,", 'max_open = "2",'),
                     ["teams.north.rules.max_open", "'2'", "integer"], id="string-for-int"),
        pytest.param(replaced("max_daily = 5", "max_daily = -1"),
                     ["teams.north.rules.max_daily", "-1", "greater than or equal to 0"],
                     id="negative-quota"),
        pytest.param(replaced("rules = { max_open = 3 }", "rules = { max_open = -3 }"),
                     ["tiers.gold.rules.max_open", "-3", "greater than or equal to 0"],
                     id="negative-tier-quota"),
        pytest.param(replaced('tier = "gold"', 'tier = "platinum"'),
                     ["reps.alice.tier", "'platinum'", "expected one of: gold"], id="unknown-tier"),
        pytest.param(replaced('id = "bob"\nteam = "north"', 'id = "bob"\nteam = "south"'),
                     ["reps.bob.team", "'south'", "expected one of: north"], id="unknown-team"),
        pytest.param(replaced('id = "bob"', 'id = "alice"'),
                     ["reps.alice.id", "'alice'", "duplicate", "expected each id once"],
                     id="duplicate-rep"),
        pytest.param(replaced("Europe/Berlin", "Mars/Olympus"),
                     ["teams.north.timezone", "'Mars/Olympus'", "IANA time zone"],
                     id="bad-zone"),
        # A folder of the zone database used to escape as a raw IsADirectoryError.
        pytest.param(replaced("Europe/Berlin", "America"),
                     ["teams.north.timezone", "'America'", "IANA time zone"], id="zone-folder"),
        pytest.param(replaced("Europe/Berlin", "x" * 300),
                     ["teams.north.timezone", "IANA time zone"], id="zone-too-long"),
        pytest.param(replaced('mode = "fcfs"', 'mode = "auction"', BASE_CONFIG.replace(
            'timezone = "Europe/Berlin"', 'timezone = "Europe/Berlin"\nmode = "fcfs"')),
                     ["teams.north.mode", "'auction'", "fcfs"], id="bad-mode"),
        pytest.param(replaced('id = "bob"', 'id = "bob smith"'),
                     ["reps[1].id", "'bob smith'", "pattern"], id="bad-rep-id"),
        pytest.param("[server]\nport = 1\n", ["teams", "required key is missing"],
                     id="missing-teams"),
    ],
)
def test_bad_config_names_key_value_and_expectation(text: str, expected: list[str]) -> None:
    message = error_of(text)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_invalid_toml() -> None:
    message = error_of("[teams.north\nrules = 1\n")
    assert "not valid TOML" in message and "line 1" in message


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="cannot read config") as info:
        load_config(missing)
    assert str(missing) in str(info.value)


def test_several_errors_are_all_reported() -> None:
    text = replaced("max_daily = 5", "max_daily = -1", replaced("max_open = 2,", "max_open = 2.5,"))
    message = error_of(text)
    assert "max_daily" in message and "max_open" in message


def test_effective_rules_precedence_team_tier_rep() -> None:
    config = parse_config(PRECEDENCE)
    rules = {r.id: effective_rep(config, r).rules for r in config.reps}
    assert rules["plain"].model_dump() == {"max_open": 2, "max_daily": 5,
                                           "cooldown_after_claim_ms": 1000,
                                           "penalty_cooldown_ms": 60000,
                                           "max_claims_per_s": 0, "weight": 1.0,
                                           "followup_sla_ms": 0, "max_hold_ms": 0,
                                           "warn_before_ms": 0, "reclaim_lockout_ms": 0,
                                           "shifts": (), "complaint_penalties": {}}
    assert (rules["tiered"].max_open, rules["tiered"].cooldown_after_claim_ms) == (3, 500)
    assert rules["tiered"].max_daily == 5
    assert (rules["own"].max_open, rules["own"].max_daily) == (7, 0)
    assert rules["own"].cooldown_after_claim_ms == 500


def test_effective_rep_carries_identity_and_coverage() -> None:
    config = parse_config(BASE_CONFIG)
    alice = effective_rep(config, config.reps[0])
    assert (alice.team, alice.tier, alice.regions, alice.skills) == (
        "north", "gold", ("north", "east"), ("solar",))
    assert '"max_open":3' in alice.to_json() and '"tier":"gold"' in alice.to_json()
    carol = effective_rep(config, config.reps[2])
    assert not carol.active and carol.regions == ("*",)


def readme_keys(heading: str) -> set[str]:
    """The keys in the first column of the README table that follows `heading`."""
    text = (ROOT / "README.md").read_text()
    rows = text.split(heading, 1)[1].split("\n\n| ", 1)[1].split("\n\n", 1)[0].splitlines()
    return {key for row in rows[2:] for key in re.findall(r"`(\w+)`", row.split(" | ")[0])}


@pytest.mark.parametrize(("heading", "model"), [
    ("`[server]` — process settings", ServerConfig),
    ("`[teams.<id>]` — a team's settings", TeamConfig),
    ("`[teams.<id>.rules]` — the rule set", RuleSet),
])
def test_the_readme_documents_every_config_key_and_no_other(heading: str,
                                                             model: type[BaseModel]) -> None:
    assert readme_keys(heading) == set(model.model_fields)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        pytest.param(BASE_CONFIG.replace("stream_maxlen", "stream_maxln"),
                     "server.stream_maxln: unknown key; did you mean 'stream_maxlen'?",
                     id="near-miss"),
        pytest.param(replaced("max_open = 2,", "max_open = 2, max_opn = 3,"),
                     "teams.north.rules.max_opn: unknown key; did you mean 'max_open'?",
                     id="nested-near-miss"),
        pytest.param(replaced('id = "bob"', 'id = "bob"\nmax_daily = 3'),
                     "reps.bob.max_daily: unknown key; did you mean 'rules.max_daily'?",
                     id="rule-outside-rules"),
    ],
)
def test_unknown_key_suggests_the_near_miss(text: str, hint: str) -> None:
    assert hint in error_of(text)


def test_no_suggestion_for_a_key_unlike_any() -> None:
    assert "did you mean" not in error_of(BASE_CONFIG + "\n[bogus]\nx = 1\n")


def test_zone_message_has_one_pair_of_brackets() -> None:
    line = next(line for line in error_of(replaced("Europe/Berlin", "Mars/Olympus")).splitlines()
                if "timezone" in line)
    assert line.count("(") == line.count(")") == 1, line
    assert line.strip() == ("teams.north.timezone: unknown IANA time zone, expected a name like "
                            "'Europe/Berlin' (got 'Mars/Olympus')")


def test_a_rep_without_a_usable_id_keeps_its_index() -> None:
    assert "reps[1].id" in error_of(replaced('id = "bob"', 'id = "bob smith"'))


def test_public_url_is_an_http_url() -> None:
    ok = parse_config(BASE_CONFIG.replace("stream_maxlen = 10000",
                                          'public_url = "https://leads.example.com"'))
    assert ok.server.public_url == "https://leads.example.com"
    assert "server.public_url" in error_of(
        BASE_CONFIG.replace("stream_maxlen = 10000", 'public_url = "leads.example.com"'))


def test_rule_override_carries_every_rule_of_rule_set_and_no_other() -> None:
    """A rule added to RuleSet but not to RuleOverride could not be set per tier or rep."""
    from server.config import RuleOverride, RuleSet

    base, override = RuleSet.__annotations__, RuleOverride.__annotations__
    assert list(override) == list(base)
    assert {name: f"{kind} | None" for name, kind in base.items()} == override
    assert all(field.default is None for field in RuleOverride.model_fields.values())
    every = RuleSet(max_open=1, max_daily=2, cooldown_after_claim_ms=3, penalty_cooldown_ms=4,
                    max_claims_per_s=5, weight=2.0, followup_sla_ms=6, max_hold_ms=7,
                    warn_before_ms=8, reclaim_lockout_ms=9, shifts=())
    assert RuleOverride(**every.model_dump()).model_dump() == every.model_dump()
