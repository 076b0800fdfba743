"""What each events-stream entry means for clients: frames and who may receive each (pure)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server import protocol
from server.contracts.events import EventType
from server.floor.roster import Member
from server.protocol import Frame


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a frame is for: everyone, some reps, some tiers ('*' = every tier), or all but some."""

    everyone: bool = False
    reps: frozenset[str] = field(default_factory=frozenset)
    except_reps: frozenset[str] = field(default_factory=frozenset)
    tiers: frozenset[str] = field(default_factory=frozenset)
    except_tiers: frozenset[str] | None = None

    def admits(self, member: Member) -> bool:
        """Whether this rep is in the audience (eligibility is checked separately)."""
        if member.id in self.except_reps:
            return False
        if self.everyone or member.id in self.reps:
            return True
        if self.except_tiers is not None:
            return member.tier not in self.except_tiers
        if self.tiers:
            return member.tier in self.tiers or "*" in self.tiers
        return bool(self.except_reps) and not self.reps  # "everyone but these reps"

    @classmethod
    def parse(cls, raw: str | None) -> Audience:
        """From a lead entry's `audience` JSON (absent: everyone)."""
        spec: Mapping[str, Any] = json.loads(raw) if raw else {"all": True}
        return cls(
            everyone=bool(spec.get("all")),
            reps=frozenset(_names(spec.get("reps"))),
            except_reps=frozenset(_names(spec.get("except_reps"))),
            tiers=frozenset(_names(spec.get("tiers"))),
            except_tiers=(frozenset(_names(spec["except_tiers"]))
                          if "except_tiers" in spec else None),
        )


def _names(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []  # cjson writes {} for []


EVERYONE = Audience(everyone=True)
EVENT_TYPES = frozenset(EventType)


def only(rep: str) -> Audience:
    return Audience(reps=frozenset({rep}))


def all_but(rep: str) -> Audience:
    return Audience(except_reps=frozenset({rep}))


@dataclass(frozen=True, slots=True)
class Delivery:
    """One frame and its audience; `offer` frames also need eligibility, shift and no pause."""

    frame: Frame
    audience: Audience
    offer: bool = False


def deliveries(fields: Mapping[str, str], seq: str) -> list[Delivery]:
    """The frames an events entry produces (none for kinds clients do not see)."""
    kind = fields.get("type", "")
    builder = BUILDERS.get(EventType(kind)) if kind in EVENT_TYPES else None
    return builder(fields, seq) if builder else []


def _lead(fields: Mapping[str, str], seq: str) -> list[Delivery]:
    payload = json.loads(fields["payload"])
    payload.update(seq=seq, published_ms=int(fields["published_ms"]))
    return [Delivery(protocol.lead(payload), Audience.parse(fields.get("audience")), True)]


def _taken(fields: Mapping[str, str], seq: str) -> list[Delivery]:
    return [Delivery(protocol.lead_taken(fields["lead_id"], seq), EVERYONE)]


def _assigned(fields: Mapping[str, str], seq: str) -> list[Delivery]:
    lead_id, rep, prev = fields["lead_id"], fields["rep"], fields.get("prev", "")
    payload = json.loads(fields.get("payload") or "{}")
    out = [
        Delivery(protocol.assigned(lead_id, seq, fields.get("by", ""), fields.get("reason", ""),
                                   payload), only(rep)),
        Delivery(protocol.lead_taken(lead_id, seq), all_but(rep)),
    ]
    if prev:
        out.append(Delivery(protocol.revoked(lead_id, "reassigned"), only(prev)))
    return out


def _revoked(fields: Mapping[str, str], seq: str) -> list[Delivery]:
    return [Delivery(protocol.revoked(fields["lead_id"], fields.get("reason", "")),
                     only(fields["rep"]))]


def _warn(fields: Mapping[str, str], seq: str) -> list[Delivery]:
    frame = protocol.warning(fields["lead_id"], int(fields.get("deadline_ms") or 0),
                             fields.get("kind", ""))
    return [Delivery(frame, only(fields["rep"]))]


def _withdrawn(fields: Mapping[str, str], seq: str) -> list[Delivery]:
    out = [Delivery(protocol.lead_taken(fields["lead_id"], seq), EVERYONE)]
    if fields.get("rep"):
        out.append(Delivery(protocol.revoked(fields["lead_id"], "withdrawn"), only(fields["rep"])))
    return out


def _pause(fields: Mapping[str, str], seq: str) -> list[Delivery]:
    return [Delivery(protocol.paused(fields.get("paused") == "1"), only(fields["rep"]))]


def _complaint(fields: Mapping[str, str], seq: str) -> list[Delivery]:
    return [Delivery(protocol.complaint(fields), only(fields["rep"]))]


def _dispute(fields: Mapping[str, str], seq: str) -> list[Delivery]:
    frame = protocol.dispute(fields)
    return [Delivery(frame, only(fields["rep"])), Delivery(frame, only(fields["prev"]))]


def _tier(fields: Mapping[str, str], seq: str) -> list[Delivery]:
    frame = protocol.tier(fields.get("tier") or None, fields.get("prev") or None,
                          fields.get("reason", ""))
    return [Delivery(frame, only(fields["rep"]))]


def _settled(fields: Mapping[str, str], seq: str) -> list[Delivery]:
    return settlement(fields["lead_id"], json.loads(fields["results"]) or {})


def settlement(lead_id: str, results: Mapping[str, Mapping[str, Any]]) -> list[Delivery]:
    """A settled window's final claim_result for each candidate (rep -> {req, result, reason})."""
    return [
        Delivery(protocol.claim_result(r["req"], lead_id, r["result"], r.get("reason") or None),
                 only(rep))
        for rep, r in results.items()
    ]


BUILDERS: Mapping[EventType, Callable[[Mapping[str, str], str], list[Delivery]]] = {
    EventType.LEAD: _lead, EventType.TAKEN: _taken, EventType.ASSIGNED: _assigned,
    EventType.REVOKED: _revoked, EventType.WARN: _warn, EventType.WITHDRAWN: _withdrawn,
    EventType.PAUSE: _pause, EventType.SETTLED: _settled, EventType.TIER: _tier,
    EventType.COMPLAINT: _complaint, EventType.DISPUTE: _dispute,
}
