"""Small frozen values the arbiter returns: losing is a value, not an exception."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from server.contracts.reasons import Outcome, Reason
from server.contracts.statuses import Status


class ClaimResult(NamedTuple):
    """The decision on one claim request (a named tuple: one is made per claim, and a frozen
    dataclass's `__init__` costs four times as much)."""

    lead_id: str
    req_id: str
    result: Outcome
    reason: Reason | None = None
    retry_after_ms: int | None = None
    rules_version: int = 0


@dataclass(frozen=True, slots=True)
class PublishResult:
    """A published lead: `created` is False when the id was already known."""

    lead_id: str
    seq: str
    created: bool
    assigned: bool = False  # a duplicate (撞单) given straight to its customer's holder


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The answer to a release or close: ok, or the reason nothing changed."""

    lead_id: str
    ok: bool
    reason: Reason | None = None
    seq: str | None = None
    deadline_ms: int | None = None


@dataclass(frozen=True, slots=True)
class RulesLoad:
    """The rules version in force for a team after a load, and whether it changed."""

    team: str
    version: int
    changed: bool


@dataclass(frozen=True, slots=True)
class Done:
    """A floor command's outcome: what the script did (`status`) and its second field
    (`detail`: a reason when rejected, else a rep, an entry id or a due time)."""

    status: Status
    detail: str

    @property
    def ok(self) -> bool:
        return self.status not in (Status.REJECTED, Status.STALE)


@dataclass(frozen=True, slots=True)
class Settlement:
    """What settle_window.lua did: 'settled' (detail: winner or ''), 'early' (detail: when the
    window ends), 'noop' (no window), or 'stale' (candidates kept changing)."""

    lead_id: str
    status: Status
    detail: str
    results: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LeadRefs:
    """Who holds a lead and whose customer it is, as last read (scripts verify both)."""

    holder: str
    customer_id: str


@dataclass(frozen=True, slots=True)
class OutcomeStep:
    """A complaint or dispute step: what the script did (`status`), the reason when rejected,
    the rep concerned (a feedback's rep, a dispute's holder) and the item's state after."""

    status: Status
    reason: str = ""
    rep: str = ""
    state: str = ""

    @property
    def ok(self) -> bool:
        return self.status in (Status.OK, Status.DUPLICATE)
