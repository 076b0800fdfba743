"""The API's typed views of a lead, a rep and an audit entry, built from what the store holds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from server.contracts.audit_fields import AuditField as F
from server.floor.roster import Member

if TYPE_CHECKING:
    from server.floor.arbiter import Arbiter

# Lead hash fields that are instants (ms since the epoch); each also appears as `<name>_at`.
LEAD_TIMES = ("published_ms", "claimed_ms", "followed_up_ms", "closed_ms", "withdrawn_ms",
              "release_base_ms")
# Payload fields published by the integrator that the lead shows as they are.
PUBLIC_FIELDS = ("priority", "region", "customer_id")
# How each audit field is typed; a field not named here stays a string.
AUDIT_INTS = frozenset({F.TS, F.RETRY_AFTER_MS, F.RULES_VERSION, F.DEADLINE_MS, F.RATING,
                        F.CONTACT_AT})  # seq: an entry id
AUDIT_JSON = frozenset({F.CONTENDERS, F.AUDIENCE, F.PAYLOAD, F.RULES})


def iso(ms: int) -> str:
    """An instant in ms as ISO 8601 UTC with milliseconds ("2026-11-29T04:25:53.123Z")."""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _int(raw: str | None) -> int | None:
    return int(raw) if raw not in (None, "") else None


def _number(raw: Any) -> int | float | None:
    if raw in (None, ""):
        return None
    value = float(raw)
    return int(value) if value.is_integer() and "." not in str(raw) else value


def _list(raw: str | None) -> list[Any]:
    """A stored JSON array; Lua's cjson writes an empty one as "{}"."""
    value = json.loads(raw) if raw else []
    return value if isinstance(value, list) else []


def _deadlines(raw: Mapping[str, str]) -> list[dict[str, Any]]:
    """The deadlines that apply to the lead now: hold, claim window, owner window."""
    found = []
    if raw.get("deadline_ms") and raw.get("state") == "held":
        found.append(("hold", raw.get("deadline_kind") or "hold", raw["deadline_ms"]))
    if raw.get("window_ends_ms") and raw.get("state") == "window":
        found.append(("window", "window_ends", raw["window_ends_ms"]))
    if raw.get("owner_until_ms") and raw.get("state") == "open":
        found.append(("owner", "owner_until", raw["owner_until_ms"]))
    return [{"applies_to": what, "kind": kind, "ms": int(ms), "at": iso(int(ms))}
            for what, kind, ms in found]


def lead_resource(lead_id: str, team: str, raw: Mapping[str, str]) -> dict[str, Any]:
    """A lead as the API shows it: typed fields from its stored hash and published payload."""
    payload: dict[str, Any] = json.loads(raw.get("payload") or "{}")
    lead: dict[str, Any] = {
        "id": lead_id, "team": team, "state": raw.get("state", ""),
        "value": _number(payload.get("value")), "priority": payload.get("priority"),
        "region": raw.get("region") or payload.get("region") or "",
        "skills": _list(raw.get("skills")),
        "customer": raw.get("customer_id") or None, "mode": raw.get("mode") or "fcfs",
        "window_ms": _int(raw.get("window_ms")) or 0,
        "window_policy": raw.get("window_policy") or None,
        "stages": _list(raw.get("stages")),
        "holder": raw.get("holder") or None, "owner": raw.get("owner") or None,
        "outcome": raw.get("outcome") or None, "seq": raw.get("seq") or None,
        "attrs": payload.get("attrs") or {}, "deadlines": _deadlines(raw),
    }
    for name in LEAD_TIMES:
        ms = _int(raw.get(name))
        lead[name] = ms
        lead[name[:-3] + "_at"] = iso(ms) if ms is not None else None
    return lead


def rep_resource(member: Member, state: Mapping[str, str], held: list[str], *, online: int,
                 now_ms: int, today: str | None, rules_version: int) -> dict[str, Any]:
    """A rep as the API shows it: identity, presence, today's count, holds and limits."""
    cooldown = _int(state.get("cooldown_until_ms")) or 0
    return {
        "id": member.id, "team": member.team, "tier": member.tier or None,
        "active": member.active, "online": online > 0, "connections": online,
        "paused": state.get("paused") == "1", "on_shift": member.on_shift(now_ms),
        "today": _int(state.get("day_count")) or 0 if state.get("day") == today else 0,
        "held": sorted(held), "open_held": len(held),
        "cooldown_until_ms": cooldown if cooldown > now_ms else None,
        "cooldown_until_at": iso(cooldown) if cooldown > now_ms else None,
        "limits": dict(member.limits), "rules_version": rules_version,
    }


async def rep_of(arbiter: Arbiter, rep_id: str) -> dict[str, Any] | None:
    """The rep resource of a rep the rules in force name (None if unknown)."""
    member = arbiter.member(rep_id)
    if member is None:
        return None
    stored = await arbiter.rep_state(rep_id)
    online = await arbiter.store.rep_connections(member.team, rep_id)
    now_ms = await arbiter.now_ms()
    return {**rep_resource(member, stored["state"], stored["held"], online=online, now_ms=now_ms,
                           today=await arbiter.local_day(member.team, now_ms),
                           rules_version=stored["rules_version"]),
            **await outcomes(arbiter, member.team, rep=rep_id)}


async def outcomes(arbiter: Arbiter, team: str, lead_id: str = "",
                   rep: str = "") -> dict[str, Any]:
    """A lead's or a rep's feedback and disputes ({feedback: [...], disputes: [...]})."""
    from server.floor.complaints import Complaints  # it imports the arbiter this module types

    return await Complaints(arbiter).listed(team, lead_id, rep)


def _audit_value(name: str, raw: str) -> Any:
    if name in AUDIT_INTS:
        return int(raw)
    if name == F.VALUE:
        return _number(raw)
    if name == F.FORCE:
        return raw == "1"
    if name in AUDIT_JSON or name == F.SEED:
        return json.loads(raw) if raw[:1] in "[{" or raw.lstrip("-").isdigit() else raw
    return raw


def audit_entry(entry_id: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """An audit entry as the API shows it: numbers as numbers, nested objects as objects."""
    entry: dict[str, Any] = {"id": entry_id}
    entry.update({name: _audit_value(name, raw) for name, raw in fields.items()})
    if isinstance(entry.get(F.TS), int):
        entry["at"] = iso(entry[F.TS])
    return entry
