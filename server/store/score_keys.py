"""The scorecard's Redis keys and the KEYS/ARGV of its scripts, built as pure functions."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from server.store.keys import Retention, ScriptCall, _key, audit, events, rules, rules_history


def tally_cursor(team: str) -> str:
    """String: the id of the last audit entry the scorecard counted."""
    return _key(team, "tally", "cursor")


def tally_takes(team: str) -> str:
    """Hash: lead -> 'rep|taken ms' while the holder's first follow-up is still to come."""
    return _key(team, "tally", "takes")


def tally_refs(team: str) -> str:
    """Hash: complaint ref -> JSON {rep, day, category, counted} (its standing so far)."""
    return _key(team, "tally", "refs")


def tally_rep(team: str, rep: str) -> str:
    """Hash: '<local date>|<counter>' -> a rep's count that day ('ff': a comma list of ms)."""
    return _key(team, "tally", "rep", rep)


def tiers(team: str) -> str:
    """Hash: earned:<rep> -> the tier the scorecard gave, pin:<rep> -> a manager's pin,
    evaluated -> the local date of the last scheduled evaluation."""
    return _key(team, "tiers")


@dataclass(frozen=True, slots=True)
class TallyBatch:
    """What one batch of audit entries adds: per-rep counter deltas and list appends (by rep
    id), and the follow-up and complaint state that carries to the next batch."""

    incr: dict[tuple[str, str], int] = field(default_factory=dict)
    append: list[tuple[str, str, int]] = field(default_factory=list)
    takes_set: dict[str, str] = field(default_factory=dict)
    takes_del: set[str] = field(default_factory=set)
    refs_set: dict[str, str] = field(default_factory=dict)

    def reps(self) -> list[str]:
        """Every rep the batch touches, sorted."""
        return sorted({rep for rep, _ in self.incr} | {rep for rep, _, _ in self.append})


def tally_call(team: str, expected: str, cursor: str, batch: TallyBatch,
               keep_from: str) -> ScriptCall:
    """tally_scores.lua: apply a counted batch and move the cursor, if it is still `expected`."""
    reps = batch.reps()
    index = {rep: i + 1 for i, rep in enumerate(reps)}
    incr = [[index[rep], name, n] for (rep, name), n in sorted(batch.incr.items()) if n]
    append = [[index[rep], name, value] for rep, name, value in batch.append]
    keys = [tally_cursor(team), tally_takes(team), tally_refs(team),
            *(tally_rep(team, rep) for rep in reps)]
    args: list[str | int] = [
        expected, cursor, _json(incr), _json(append), _json(batch.takes_set),
        _json(sorted(batch.takes_del)), _json(batch.refs_set), keep_from, len(reps),
    ]
    return ScriptCall(keys, args)


@dataclass(frozen=True, slots=True)
class TierMove:
    """One tier change as record_tier.lua applies it (see its header for each field)."""

    rep: str
    field: str  # 'earned:<rep>' or 'pin:<rep>'
    value: str
    expected: str
    version: int
    actor: str
    reason: str
    prev: str
    tier: str
    digest: str
    rep_json: str
    kept: str


def tier_call(team: str, move: TierMove, retention: Retention, now: str) -> ScriptCall:
    """record_tier.lua: set an earned tier or a pin, with the rules it brings, and audit it."""
    keys = [rules(team), rules_history(team), audit(team), events(team), tiers(team)]
    args: list[str | int] = [
        now, move.rep, move.field, move.value, move.expected, move.version, move.actor,
        move.reason, move.prev, move.tier, move.digest, move.rep_json, move.kept,
        retention.audit_maxlen, retention.events_maxlen,
    ]
    return ScriptCall(keys, args)


def rules_body(team_json: str, rep_rows: Sequence[tuple[str, str]]) -> str:
    """A team's rules as the history keeps them (the shape load_rules.lua writes)."""
    reps = ",".join(f"{json.dumps(rep)}:{body}" for rep, body in rep_rows)
    return '{"team":' + team_json + ',"reps":{' + reps + "}}"


def _json(value: object) -> str:
    if isinstance(value, Mapping) and not value:
        return "{}"
    return json.dumps(value, separators=(",", ":"))


def tier_evaluation(team: str, day: str) -> str:
    """String: set (NX) by the one process that evaluates the team's tiers on a local day."""
    return _key(team, "tiers", "evaluated", day)
