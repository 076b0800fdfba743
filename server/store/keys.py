"""Every Redis key LeadGrab uses, and the KEYS/ARGV lists of each script, built as pure functions.

All keys of a team share the hash tag `{team}`, so every script touches one cluster slot.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "lg"


def _key(team: str, *parts: str) -> str:
    return f"{PREFIX}:{{{team}}}:" + ":".join(parts)


def rules(team: str) -> str:
    """Hash: rules version, digest and each rep's effective rules as JSON."""
    return _key(team, "rules")


def rules_history(team: str) -> str:
    """Hash: every rules version loaded -> {"team": settings, "reps": {id: rules}} as JSON."""
    return _key(team, "rules_history")


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


def request(team: str, rep: str, req_id: str, lead_id: str) -> str:
    """String: the stored result of a claim request, for idempotent retries. A req_id counts
    per lead: the same one on another lead is another request (never that lead's answer).
    Rep and req ids hold no ':', so the key names one (rep, req_id, lead) alone."""
    return _key(team, "req", rep, req_id, lead_id)


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


def lockout(team: str, rep: str) -> str:
    """Hash: what a former holder is kept off, 'lead:<id>' / 'cust:<id>' -> until (ms)."""
    return _key(team, "lockout", rep)


def customer(team: str, customer_id: str) -> str:
    """Hash: a customer's owner and protection, and who holds its open leads.

    A lead without a customer uses the placeholder `cust:-`, which no script writes.
    """
    return _key(team, "cust", customer_id or "-")


def shift(team: str, rep: str) -> str:
    """Sorted set: a rep's working hours as 'start:end' (UTC ms), scored by start."""
    return _key(team, "shift", rep)


def round_robin(team: str) -> str:
    """String: the rep the round_robin assignment policy chose last."""
    return _key(team, "rr")


def pool(team: str) -> str:
    """Sorted set: the team's open leads, scored by when each (re)opened (ms); kept by the
    scripts that change a lead's state, read by the pool snapshot, GET /api/leads and gauges."""
    return _key(team, "pool")


def audit(team: str) -> str:
    """Stream: every decision, written by the script that made it."""
    return _key(team, "audit")


def events(team: str) -> str:
    """Stream: leads offered and taken, tailed by every server for fan-out and resume."""
    return _key(team, "events")


@dataclass(frozen=True, slots=True)
class Retention:
    """How long what the scripts write is kept: stream lengths, idempotency records, and a
    finished lead's keys."""

    events_maxlen: int
    audit_maxlen: int
    request_ttl_ms: int
    lead_retention_ms: int = 0  # a finished lead's keys expire this long after; 0 = never


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """The KEYS and ARGV of one script call; `packed`: their RESP, if built (claim_keys.py)."""

    keys: list[str]
    args: list[str | int]
    packed: bytes | None = None


def load_rules_call(
    team: str, version_digest: str, team_json: str, day_rows: list[tuple[str, int]],
    rep_rows: list[tuple[str, str, str]], audit_maxlen: int, now: str,
) -> ScriptCall:
    """load_rules.lua: replace a team's rules, day table and shifts atomically.

    rep_rows: (rep id, rules JSON, shifts JSON) per rep.
    """
    flat_days: list[str | int] = [item for row in day_rows for item in (row[1], row[0])]
    flat_reps: list[str | int] = [item for row in rep_rows for item in row]
    args: list[str | int] = [now, version_digest, team_json, audit_maxlen, len(flat_days) // 2]
    shift_keys = [shift(team, row[0]) for row in rep_rows]
    return ScriptCall([rules(team), days(team), audit(team), rules_history(team), *shift_keys],
                      args + flat_days + flat_reps)


def publish_call(team: str, lead_id: str, fields_json: str, retention: Retention, now: str,
                 actor: str, policy_json: str = "{}", holder: str = "",
                 customer_id: str = "") -> ScriptCall:
    """publish_lead.lua: store a lead once and offer it (or give a duplicate to its holder)."""
    keys = [
        lead(team, lead_id), events(team), audit(team), trail(team, lead_id), timers(team),
        customer(team, customer_id), rules(team), days(team), rep_state(team, holder or "-"),
        held(team, holder or "-"), pool(team),
    ]
    args: list[str | int] = [now, lead_id, fields_json, retention.events_maxlen,
                             retention.audit_maxlen, actor, policy_json, holder]
    return ScriptCall(keys, args)


def claim_call(team: str, rep: str, lead_id: str, req_id: str, retention: Retention,
               now: str, customer_id: str = "") -> ScriptCall:
    """claim_lead.lua: decide one claim."""
    keys = [
        rules(team), days(team), lead(team, lead_id), rep_state(team, rep), held(team, rep),
        request(team, rep, req_id, lead_id), audit(team), events(team), trail(team, lead_id),
        candidates(team, lead_id), timers(team), rate(team, rep), lockout(team, rep),
        customer(team, customer_id), shift(team, rep), pool(team),
    ]
    args: list[str | int] = [now, rep, lead_id, req_id, retention.request_ttl_ms,
                             retention.audit_maxlen, retention.events_maxlen, customer_id]
    return ScriptCall(keys, args)


def release_call(team: str, rep: str, lead_id: str, retention: Retention, now: str,
                 customer_id: str = "") -> ScriptCall:
    """release_lead.lua: the holder gives a lead back to the pool."""
    return ScriptCall(
        [rules(team), lead(team, lead_id), held(team, rep), audit(team), events(team),
         trail(team, lead_id), timers(team), customer(team, customer_id), lockout(team, rep),
         pool(team)],
        [now, rep, lead_id, retention.audit_maxlen, retention.events_maxlen, customer_id],
    )


def close_call(team: str, rep: str, lead_id: str, outcome: str, retention: Retention,
               now: str, customer_id: str = "") -> ScriptCall:
    """close_lead.lua: the holder closes a lead as won or lost, freeing the slot."""
    return ScriptCall(
        [rules(team), lead(team, lead_id), held(team, rep), audit(team), trail(team, lead_id),
         timers(team), customer(team, customer_id), candidates(team, lead_id)],
        [now, rep, lead_id, outcome, retention.audit_maxlen, customer_id,
         retention.lead_retention_ms],
    )


def followup_call(team: str, rep: str, lead_id: str, note: str, retention: Retention,
                  now: str) -> ScriptCall:
    """followup_lead.lua: the holder records progress; deadlines move."""
    return ScriptCall(
        [rules(team), lead(team, lead_id), timers(team), audit(team), trail(team, lead_id)],
        [now, rep, lead_id, note, retention.audit_maxlen],
    )


def deadline_call(team: str, member: str, lead_id: str, holder: str, customer_id: str,
                  retention: Retention, now: str) -> ScriptCall:
    """fire_deadline.lua: warn a holder, or recycle a lead whose deadline passed."""
    return ScriptCall(
        [rules(team), lead(team, lead_id), timers(team), audit(team), events(team),
         trail(team, lead_id), rep_state(team, holder or "-"), held(team, holder or "-"),
         lockout(team, holder or "-"), customer(team, customer_id), pool(team)],
        [now, member, lead_id, holder, customer_id, retention.audit_maxlen,
         retention.events_maxlen],
    )


def offer_call(team: str, member: str, lead_id: str, retention: Retention, now: str) -> ScriptCall:
    """offer_lead.lua: offer a lead to its next release stage, or after the owner window."""
    return ScriptCall(
        [lead(team, lead_id), timers(team), events(team), audit(team), trail(team, lead_id),
         rules(team)],
        [now, member, lead_id, retention.events_maxlen, retention.audit_maxlen],
    )


def pause_call(team: str, rep: str, paused: bool, actor: str, retention: Retention,
               now: str) -> ScriptCall:
    """pause_rep.lua: pause or resume a rep."""
    return ScriptCall(
        [rep_state(team, rep), audit(team), events(team), rules(team)],
        [now, rep, "1" if paused else "0", actor, retention.audit_maxlen, retention.events_maxlen],
    )


def dispatch_call(team: str, lead_id: str, rep: str, actor: str, force: bool, reason: str,
                  holder: str, customer_id: str, retention: Retention, now: str) -> ScriptCall:
    """dispatch_lead.lua: a manager assigns or reassigns a lead."""
    keys = [
        rules(team), days(team), lead(team, lead_id), rep_state(team, rep), held(team, rep),
        shift(team, rep), audit(team), events(team), trail(team, lead_id), timers(team),
        customer(team, customer_id), held(team, holder or "-"), lockout(team, rep),
        candidates(team, lead_id), pool(team),
    ]
    args: list[str | int] = [now, lead_id, rep, actor, "1" if force else "0", reason, holder,
                             customer_id, retention.audit_maxlen, retention.events_maxlen]
    return ScriptCall(keys, args)


def withdraw_call(team: str, lead_id: str, actor: str, reason: str, holder: str,
                  customer_id: str, retention: Retention, now: str) -> ScriptCall:
    """withdraw_lead.lua: a manager withdraws a lead."""
    return ScriptCall(
        [lead(team, lead_id), held(team, holder or "-"), timers(team),
         customer(team, customer_id), audit(team), events(team), trail(team, lead_id),
         candidates(team, lead_id), rules(team), pool(team)],
        [now, lead_id, actor, reason, holder, customer_id, retention.audit_maxlen,
         retention.events_maxlen, retention.lead_retention_ms],
    )


def auto_assign_call(team: str, lead_id: str, policy: str, customer_id: str, reps: list[str],
                     retention: Retention, now: str, seed: str = "") -> ScriptCall:
    """auto_assign.lua: assign a lead nobody claimed, by policy, among `reps` (sorted)."""
    keys = [
        rules(team), days(team), lead(team, lead_id), timers(team), audit(team), events(team),
        trail(team, lead_id), customer(team, customer_id), round_robin(team), pool(team),
    ]
    for rep in reps:
        keys += [rep_state(team, rep), held(team, rep), lockout(team, rep), shift(team, rep)]
    args: list[str | int] = [now, lead_id, policy, customer_id, retention.audit_maxlen,
                             retention.events_maxlen, seed, *reps]
    return ScriptCall(keys, args)


def settle_call(team: str, lead_id: str, reps: list[str], retention: Retention, now: str,
                customer_id: str = "", seed: str = "") -> ScriptCall:
    """settle_window.lua: close a lead's window and pick the winner among `reps` (sorted)."""
    keys = [
        rules(team), days(team), lead(team, lead_id), candidates(team, lead_id), timers(team),
        audit(team), events(team), trail(team, lead_id), customer(team, customer_id), pool(team),
    ]
    for rep in reps:
        keys += [rep_state(team, rep), held(team, rep)]
    args: list[str | int] = [now, lead_id, retention.audit_maxlen, retention.events_maxlen,
                             customer_id, seed, *reps]
    return ScriptCall(keys, args)


def presence(team: str) -> str:
    """Hash: '<rep>|<instance>' -> open sockets of that rep on that server process."""
    return _key(team, "presence")


def presence_log(team: str) -> str:
    """Stream: rep connected / disconnected, for the manager feed (capped)."""
    return _key(team, "presence_log")
