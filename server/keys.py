"""Every Redis key LeadGrab uses, and the KEYS/ARGV lists of each script, built as pure functions.

All keys of a team share the hash tag `{team}`, so every script touches one cluster slot.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "lg"


def _key(team: str, *parts: str) -> str:
    return ":".join((PREFIX, "{" + team + "}", *parts))


def rules(team: str) -> str:
    """Hash: rules version, digest and each rep's effective rules as JSON."""
    return _key(team, "rules")


def days(team: str) -> str:
    """Sorted set: local date → UTC ms of its midnight in the team's time zone."""
    return _key(team, "days")


def lead(team: str, lead_id: str) -> str:
    """Hash: one lead's attributes and arbitration state."""
    return _key(team, "lead", lead_id)


def rep_state(team: str, rep: str) -> str:
    """Hash: a rep's daily count, its day, and cooldown deadline."""
    return _key(team, "rep", rep)


def held(team: str, rep: str) -> str:
    """Set: ids of the leads a rep holds now."""
    return _key(team, "held", rep)


def request(team: str, rep: str, req_id: str) -> str:
    """String: the stored result of a claim request, for idempotent retries."""
    return _key(team, "req", rep, req_id)


def trail(team: str, lead_id: str) -> str:
    """List: the audit entry ids of one lead, oldest first."""
    return _key(team, "trail", lead_id)


def candidates(team: str, lead_id: str) -> str:
    """Hash: a window's candidates, rep -> JSON {req, ts[, result, reason]}."""
    return _key(team, "cand", lead_id)


def timers(team: str) -> str:
    """Sorted set: due timers (e.g. 'settle:<lead>') scored by due time in ms."""
    return _key(team, "timers")


def rate(team: str, rep: str) -> str:
    """String: a rep's claim attempts in the current second (anti-bot throttle)."""
    return _key(team, "rate", rep)


def audit(team: str) -> str:
    """Stream: every decision, written by the script that made it."""
    return _key(team, "audit")


def events(team: str) -> str:
    """Stream: leads offered and taken, tailed by every server for fan-out and resume."""
    return _key(team, "events")


@dataclass(frozen=True, slots=True)
class Limits:
    """Retention settings passed to every script that appends to a stream."""

    events_maxlen: int
    audit_maxlen: int
    request_ttl_ms: int


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """The KEYS and ARGV of one script invocation."""

    keys: list[str]
    args: list[str | int]


def load_rules_call(
    team: str, version_digest: str, team_json: str, day_rows: list[tuple[str, int]],
    rep_rows: list[tuple[str, str]], audit_maxlen: int, now: str,
) -> ScriptCall:
    """load_rules.lua: replace a team's rules and day table atomically."""
    flat_days: list[str | int] = [item for row in day_rows for item in (row[1], row[0])]
    flat_reps: list[str | int] = [item for row in rep_rows for item in row]
    args: list[str | int] = [now, version_digest, team_json, audit_maxlen, len(flat_days) // 2]
    return ScriptCall([rules(team), days(team), audit(team)], args + flat_days + flat_reps)


def publish_call(team: str, lead_id: str, fields_json: str, limits: Limits, now: str,
                 actor: str) -> ScriptCall:
    """publish_lead.lua: store a lead once and offer it on the team's event stream."""
    return ScriptCall(
        [lead(team, lead_id), events(team), audit(team), trail(team, lead_id)],
        [now, lead_id, fields_json, limits.events_maxlen, limits.audit_maxlen, actor],
    )


def claim_call(team: str, rep: str, lead_id: str, req_id: str, limits: Limits,
               now: str) -> ScriptCall:
    """claim_lead.lua: decide one claim."""
    keys = [
        rules(team), days(team), lead(team, lead_id), rep_state(team, rep), held(team, rep),
        request(team, rep, req_id), audit(team), events(team), trail(team, lead_id),
        candidates(team, lead_id), timers(team), rate(team, rep),
    ]
    args: list[str | int] = [
        now, rep, lead_id, req_id, limits.request_ttl_ms, limits.audit_maxlen,
        limits.events_maxlen,
    ]
    return ScriptCall(keys, args)


def release_call(team: str, rep: str, lead_id: str, limits: Limits, now: str) -> ScriptCall:
    """release_lead.lua: the holder gives a lead back to the pool."""
    return ScriptCall(
        [rules(team), lead(team, lead_id), held(team, rep), audit(team), events(team),
         trail(team, lead_id)],
        [now, rep, lead_id, limits.audit_maxlen, limits.events_maxlen],
    )


def close_call(team: str, rep: str, lead_id: str, outcome: str, limits: Limits,
               now: str) -> ScriptCall:
    """close_lead.lua: the holder closes a lead as won or lost, freeing the slot."""
    return ScriptCall(
        [rules(team), lead(team, lead_id), held(team, rep), audit(team), trail(team, lead_id)],
        [now, rep, lead_id, outcome, limits.audit_maxlen],
    )


def settle_call(team: str, lead_id: str, reps: list[str], limits: Limits, now: str) -> ScriptCall:
    """settle_window.lua: close a lead's window and pick the winner among `reps` (sorted)."""
    keys = [
        rules(team), days(team), lead(team, lead_id), candidates(team, lead_id), timers(team),
        audit(team), events(team), trail(team, lead_id),
    ]
    for rep in reps:
        keys += [rep_state(team, rep), held(team, rep)]
    args: list[str | int] = [now, lead_id, limits.audit_maxlen, limits.events_maxlen, *reps]
    return ScriptCall(keys, args)
