"""complaint_penalties and [teams.<t>.complaints]: layered team -> tier -> rep by category,
validated with a message naming the key, shown by check-config, hot-reloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadgrab.cli import main
from server.config import ConfigError, parse_config
from server.floor.complaints import Complaints
from server.floor.rules import effective_rep
from server.store.store import Store
from tests.clock import ManualClock
from tests.helpers import arbiter_for, publish
from tests.outcome_helpers import FLOOR, complaint, rep_field

LAYERED = FLOOR.replace('[[reps]]\nid = "ann"\nteam = "north"\n', (
    '[tiers.gold.rules.complaint_penalties]\nno_contact = { points = 1 }\n\n'
    '[[reps]]\nid = "ann"\nteam = "north"\ntier = "gold"\n'
    '[reps.rules.complaint_penalties]\nrude = { cooldown_ms = 5 }\n'), 1)


def test_penalties_layer_team_tier_rep_by_category() -> None:
    config = parse_config(LAYERED)
    ann, ben = (effective_rep(config, r).rules.complaint_penalties for r in config.reps[:2])
    assert (ann["rude"].cooldown_ms, ann["rude"].pause_ms, ann["rude"].points) == (5, 0, 0)
    assert (ann["no_contact"].cooldown_ms, ann["no_contact"].points) == (0, 1)
    assert (ben["rude"].cooldown_ms, ben["rude"].points, ben["no_contact"].cooldown_ms) == (
        600_000, 5, 1000)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("rude = { cooldown_ms = 600000", "rudeness = { cooldown_ms = 600000",
     "teams.north.rules.complaint_penalties: unknown category 'rudeness'"),
    ("no_contact = { points = 1 }", "nope = { points = 1 }",
     "tiers.gold.rules.complaint_penalties: unknown category 'nope'"),
    ("rude = { cooldown_ms = 5 }", "rude = { cooldown_ms = -5 }", "cooldown_ms"),
    ("appeal_window_ms = 86400000", "appeal_window_ms = 86400000\ncategories = []",
     "categories"),
])
def test_bad_penalties_are_refused_naming_the_key(old: str, new: str, message: str) -> None:
    assert old in LAYERED
    with pytest.raises(ConfigError, match="invalid configuration") as caught:
        parse_config(LAYERED.replace(old, new, 1))
    assert message in str(caught.value)


def test_check_config_shows_penalties_categories_and_window(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(LAYERED)
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "complaint_penalties={'rude': {'cooldown_ms': 5" in out
    assert "team north complaints: categories=rude,no_contact,misinformation," \
           "duplicate_contact appeal_window_ms=86400000" in out


async def test_a_reload_changes_the_penalty_the_next_ruling_applies(
        store: Store, clock: ManualClock) -> None:
    clock.now_ms = 1_800_000_000_000
    arbiter = await arbiter_for(store, FLOOR)
    await publish(arbiter, "L1")
    await arbiter.claim("ben", "L1", "r1")
    complaints = Complaints(arbiter)
    await complaints.record("north", complaint("F1", category="no_contact"))
    await complaints.record("north", complaint("F2", category="no_contact"))
    await complaints.rule("north", "F1", "upheld", "manager:m", "x")
    assert await rep_field(arbiter, "ben", "cooldown_until_ms") == str(clock.now_ms + 1000)
    await arbiter.apply_rules(parse_config(FLOOR.replace("no_contact = { cooldown_ms = 1000 }",
                                                         "no_contact = { cooldown_ms = 9000 }")))
    await complaints.rule("north", "F2", "upheld", "manager:m", "x")
    assert await rep_field(arbiter, "ben", "cooldown_until_ms") == str(clock.now_ms + 9000)
