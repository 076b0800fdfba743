"""Key and argument builders (pure, no Redis): one cluster slot per call, counts match headers."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

import pytest
from redis.crc import key_slot

from server.contracts.timer_members import TimerKind, member
from server.store import keys, outcome_keys, replay_keys, return_keys, score_keys
from server.store.keys import Retention, ScriptCall
from server.store.scripts import NAMES, lua_dir

TEAMS = ["north", "team-2", "a.b", "T_9"]
WARN, STAGE = member(TimerKind.WARN, "L-1"), member(TimerKind.STAGE, "L-1", 2)
LIMITS = Retention(events_maxlen=10, audit_maxlen=20, request_ttl_ms=30)
NOW = "1799053200000"
DAY_ROWS = [("2027-01-04", 1_799_017_200_000), ("2027-01-05", 1_799_103_600_000)]
REP_ROWS = [("alice", '{"max_open":2}', "[]"), ("bob", '{"max_open":3}', "[[1, 2]]"),
            ("carol", "{}", "[]")]
HEADER = re.compile(r"\A--\[\[(.*?)\]\]", re.DOTALL)
HEADER_INDEX = re.compile(r"^(KEYS|ARGV)\[(\d+)\]\s", re.MULTILINE)
VARIADIC_ARGV = re.compile(r"^ARGV\[\d+\s*\.\.", re.MULTILINE)
BODY_INDEX = re.compile(r"\b(KEYS|ARGV)\[(\d+)\]")

Builder = Callable[[str], ScriptCall]

SAMPLES: dict[str, Builder] = {
    "load_rules_call": lambda team: keys.load_rules_call(
        team, "digest", '{"timezone":"UTC"}', DAY_ROWS, REP_ROWS, 20, NOW),
    "publish_call": lambda team: keys.publish_call(team, "L-1", "{}", LIMITS, NOW, "crm"),
    # A client-chosen request id full of braces must not move the key to another slot.
    "claim_call": lambda team: keys.claim_call(team, "alice", "L:1", "}{evil}", LIMITS, NOW),
    "release_call": lambda team: keys.release_call(team, "alice", "L.1", LIMITS, NOW),
    "close_call": lambda team: keys.close_call(team, "alice", "L-1", "won", LIMITS, NOW),
    "settle_call": lambda team: keys.settle_call(team, "L-1", CANDIDATES, LIMITS, NOW, "C9"),
    "followup_call": lambda team: keys.followup_call(team, "alice", "L-1", "rang", LIMITS, NOW),
    "deadline_call": lambda team: keys.deadline_call(team, WARN, "L-1", "alice", "C9",
                                                     LIMITS, NOW),
    "offer_call": lambda team: keys.offer_call(team, STAGE, "L-1", LIMITS, NOW),
    "pause_call": lambda team: keys.pause_call(team, "alice", True, "alice", LIMITS, NOW),
    "dispatch_call": lambda team: keys.dispatch_call(team, "L-1", "bob", "manager:m", False,
                                                     "", "alice", "C9", LIMITS, NOW),
    "withdraw_call": lambda team: keys.withdraw_call(team, "L-1", "manager:m", "dup", "",
                                                     "", LIMITS, NOW),
    "auto_assign_call": lambda team: keys.auto_assign_call(team, "L-1", "round_robin", "C9",
                                                           CANDIDATES, LIMITS, NOW),
    "feedback_call": lambda team: outcome_keys.feedback_call(team, FEEDBACK, "alice", LIMITS,
                                                             NOW),
    "ruling_call": lambda team: outcome_keys.ruling_call(team, "F1", "ruling", "upheld",
                                                         "manager:m", "rude", "alice", "L-1",
                                                         LIMITS, NOW),
    "appeal_call": lambda team: outcome_keys.appeal_call(team, "F1", "alice", "no", "L-1",
                                                         LIMITS, NOW),
    "lift_pause_call": lambda team: outcome_keys.lift_pause_call(team, "alice", LIMITS, NOW),
    "file_dispute_call": lambda team: outcome_keys.file_dispute_call(team, "D1", "L-1", "bob",
                                                                     "mine", "alice", LIMITS,
                                                                     NOW),
    "resolve_dispute_call": lambda team: outcome_keys.resolve_dispute_call(team, RULING, LIMITS,
                                                                           NOW),
    "claimable_call": lambda team: return_keys.claimable_call(team, "alice", LEADS, NOW),
    "tally_call": lambda team: score_keys.tally_call(team, "", "1-0", TALLY, "2027-01-01"),
    "tier_call": lambda team: score_keys.tier_call(team, TIER_MOVE, LIMITS, NOW),
    "schedule_call": lambda team: replay_keys.schedule_call(team, 32),
}
FEEDBACK = outcome_keys.FeedbackIn("F1", "L-1", "integration:crm", "complaint", None, "rude",
                                   "shouted", None)
RULING = outcome_keys.DisputeRuling("D1", "reassign", "manager:m", "earlier call", "L-1", "bob",
                                    "alice", "C9")
LEADS = ["L-1", "L:2"]
TALLY = score_keys.TallyBatch(incr={("alice", "2027-01-04|taken"): 1,
                                    ("bob", "2027-01-04|won"): 1},
                              append=[("carol", "2027-01-04|ff", 60000)])
TIER_MOVE = score_keys.TierMove("alice", "earned:alice", "gold", "", 3, "schedule", "promoted",
                                "", "gold", "d1", "{}", '{"team":{},"reps":{}}')
CANDIDATES = ["alice", "bob", "carol"]
# Scripts whose header ends with a variadic KEYS[n..] / ARGV[n..] block: how many more
# keys and args the sample call carries beyond the numbered ones.
EXTRA_KEYS = {"settle_window": 2 * len(CANDIDATES), "load_rules": len(REP_ROWS),
              "auto_assign": 4 * len(CANDIDATES), "claimable_leads": len(LEADS),
              "tally_scores": len(TALLY.reps())}
EXTRA_ARGS = {"load_rules": 2 * len(DAY_ROWS) + 3 * len(REP_ROWS),
              "settle_window": len(CANDIDATES), "auto_assign": len(CANDIDATES),
              "claimable_leads": len(LEADS)}

SCRIPT_BUILDERS = {
    "load_rules": "load_rules_call", "publish_lead": "publish_call", "claim_lead": "claim_call",
    "release_lead": "release_call", "close_lead": "close_call", "settle_window": "settle_call",
    "followup_lead": "followup_call", "fire_deadline": "deadline_call",
    "offer_lead": "offer_call", "pause_rep": "pause_call", "dispatch_lead": "dispatch_call",
    "withdraw_lead": "withdraw_call", "auto_assign": "auto_assign_call",
    "record_feedback": "feedback_call", "rule_complaint": "ruling_call",
    "appeal_complaint": "appeal_call", "lift_pause": "lift_pause_call",
    "file_dispute": "file_dispute_call", "resolve_dispute": "resolve_dispute_call",
    "claimable_leads": "claimable_call",
    "tally_scores": "tally_call",
    "record_tier": "tier_call",
    "timer_schedule": "schedule_call",
}


def header(name: str) -> str:
    text = (lua_dir() / f"{name}.lua").read_text(encoding="utf-8")
    match = HEADER.match(text)
    assert match, f"{name}.lua must open with a --[[ ... ]] header"
    return match.group(1)


def body(name: str) -> str:
    text = (lua_dir() / f"{name}.lua").read_text(encoding="utf-8")
    return text[HEADER.match(text).end():]  # type: ignore[union-attr]


def header_indexes(name: str, kind: str) -> list[int]:
    return [int(n) for k, n in HEADER_INDEX.findall(header(name)) if k == kind]


def test_every_builder_has_a_sample() -> None:
    builders = {n for module in (keys, outcome_keys, return_keys, score_keys,
                                 replay_keys)
                for n, _ in inspect.getmembers(module, inspect.isfunction) if n.endswith("_call")}
    assert builders == set(SAMPLES)
    assert set(SCRIPT_BUILDERS.values()) == builders


def test_every_script_file_is_registered() -> None:
    assert {p.stem for p in lua_dir().glob("*.lua")} == set(NAMES)


@pytest.mark.parametrize("team", TEAMS)
@pytest.mark.parametrize("builder", sorted(SAMPLES))
def test_keys_share_one_slot_and_prefix(builder: str, team: str) -> None:
    call = SAMPLES[builder](team)
    assert call.keys, builder
    assert all(key.startswith(f"lg:{{{team}}}:") for key in call.keys), call.keys
    assert {key_slot(key.encode()) for key in call.keys} == {key_slot(team.encode())}


@pytest.mark.parametrize("team", TEAMS)
def test_team_keys_differ_per_team(team: str) -> None:
    other = SAMPLES["claim_call"]("zz-other")
    assert not set(SAMPLES["claim_call"](team).keys) & set(other.keys)


@pytest.mark.parametrize("name", NAMES)
def test_header_names_keys_argv_returns(name: str) -> None:
    text = header(name)
    for word in ("KEYS[1]", "ARGV[1]", "Returns", "Emits"):
        assert word in text, f"{name}.lua header lacks {word}"


@pytest.mark.parametrize("name", NAMES)
def test_keys_count_matches_header_and_body(name: str) -> None:
    documented = header_indexes(name, "KEYS")
    assert documented == list(range(1, len(documented) + 1)), f"{name}: KEYS not 1..n"
    call = SAMPLES[SCRIPT_BUILDERS[name]]("north")
    assert len(call.keys) == len(documented) + EXTRA_KEYS.get(name, 0)
    used = [int(n) for k, n in BODY_INDEX.findall(body(name)) if k == "KEYS"]
    assert max(used) <= len(documented)


@pytest.mark.parametrize("name", NAMES)
def test_argv_count_matches_header_and_body(name: str) -> None:
    documented = header_indexes(name, "ARGV")
    assert documented == list(range(1, len(documented) + 1)), f"{name}: ARGV not 1..n"
    call = SAMPLES[SCRIPT_BUILDERS[name]]("north")
    assert bool(VARIADIC_ARGV.search(header(name))) == (name in EXTRA_ARGS)
    assert len(call.args) == len(documented) + EXTRA_ARGS.get(name, 0)
    used = [int(n) for k, n in BODY_INDEX.findall(body(name)) if k == "ARGV"]
    assert max(used) <= len(documented)


def test_load_rules_rows_follow_the_documented_layout() -> None:
    args = SAMPLES["load_rules_call"]("north").args
    n_days = int(args[4])
    assert n_days == len(DAY_ROWS)
    assert args[5:5 + 2 * n_days] == [1_799_017_200_000, "2027-01-04", 1_799_103_600_000,
                                      "2027-01-05"]
    assert args[5 + 2 * n_days:] == [item for row in REP_ROWS for item in row]


def test_evalsha_is_packed_as_redis_py_packs_it() -> None:
    from redis.connection import Connection as SyncConnection

    from server.store.batch import _evalsha

    packer = SyncConnection()  # type: ignore[no-untyped-call]  # packs without connecting
    call = ScriptCall(["lg:{north}:lead:L-1", "lg:{north}:rep:张伟"],
                      ["", 0, 12, "备注 ✓", "req.1", True])
    args = [str(a) if isinstance(a, bool) else a for a in call.args]  # redis-py refuses bools
    expected = b"".join(packer.pack_command(  # type: ignore[no-untyped-call]
        "EVALSHA", "f" * 40, len(call.keys), *call.keys, *args))
    assert _evalsha("f" * 40, call) == expected
    assert _evalsha("f" * 40, call) == expected  # again, from the remembered bulk strings
