"""What the reads before a script will find, guessed from the record to save their round trips.

A script given a lead's refs (holder, customer id) or a publish's customer holder checks them
and answers stale when they are wrong; the store then reads them from Redis. So a guess only
ever saves a round trip or costs one: it never changes a decision.
"""

from __future__ import annotations

from server.contracts.audit_fields import AuditAction, AuditField
from server.contracts.timer_members import TimerKind
from server.replay.firings import Key, timer_kind
from server.replay.record import Fields, Record

A = AuditAction
# inputs whose scripts check only the lead's customer id (the holder guessed is not used)
CUSTOMER_ONLY = frozenset({A.CLOSE, A.RELEASE})
LeadGuess = tuple[str, str, str] | None  # (lead id, holder, customer id), or None: read it


class Guesses:
    """Per input or timer firing, what its reads may assume (exact replays also trust the
    record's holders; a what-if only what holds under any rules)."""

    def __init__(self, record: Record, exact: bool) -> None:
        self.exact = exact
        # each lead's customer id, as its publish recorded it (a replay publishes the same)
        self.customer_of = {s.fields.get(AuditField.LEAD, ""): s.fields.get(AuditField.CUSTOMER, "")
                            for s in record.steps if s.action == A.PUBLISH}
        # the rep a recorded warn or recycle named: the lead's holder when it fired
        self.fired_holder = {s.pos: s.fields.get(AuditField.REP, "") for s in record.steps
                             if s.action in (A.WARN, A.RECYCLE)}
        # leads a publish gave at once to their customer's holder (a duplicate: only
        # publish_lead.lua writes assign entries)
        self.duplicate_of = {s.fields.get(AuditField.LEAD, ""): s.fields.get(AuditField.REP, "")
                             for s in record.steps if s.action == A.ASSIGN}

    def for_input(self, action: str, f: Fields) -> tuple[LeadGuess, str | None]:
        """(the lead's refs, the publish's customer holder) an input's reads may assume."""
        lead = f.get(AuditField.LEAD, "")
        if action in CUSTOMER_ONLY:
            return self._refs(lead, ""), None
        if action == A.PUBLISH and self.exact:
            return None, self.duplicate_of.get(lead, "")
        return None, None

    def for_timer(self, member: str, key: Key) -> LeadGuess:
        """The refs a timer firing at `key` may assume."""
        kind = timer_kind(member)
        if kind is None:
            return None
        if kind[1] is TimerKind.AUTO:  # auto_assign.lua checks only the customer id
            return self._refs(kind[0], "")
        if (self.exact and kind[1] in (TimerKind.WARN, TimerKind.DEADLINE) and key[2] == 0
                and key[1] in self.fired_holder):
            return self._refs(kind[0], self.fired_holder[key[1]])
        return None

    def _refs(self, lead: str, holder: str) -> LeadGuess:
        return lead, holder, self.customer_of.get(lead, "")
