"""Outcome and reason codes: the Python mirror of `lua/lib/reasons.lua`."""

from enum import StrEnum


class Outcome(StrEnum):
    """What a claim decided for the rep who sent it."""

    WON = "won"
    LOST = "lost"
    REJECTED = "rejected"
    PENDING = "pending"


class Reason(StrEnum):
    """Why a claim was rejected, or why a release/close did nothing.

    The values are the strings the Lua scripts return; `tests/test_reasons.py`
    fails if this set and `lua/lib/reasons.lua` drift apart.
    """

    INELIGIBLE = "ineligible"
    QUOTA_OPEN = "quota_open"
    QUOTA_DAILY = "quota_daily"
    COOLDOWN = "cooldown"
    NOT_FOUND = "not_found"
    NOT_OPEN = "not_open"
    CLOSED = "closed"
    LOCKED_OUT = "locked_out"
    NOT_HOLDER = "not_holder"
    RATE_LIMITED = "rate_limited"
    REASON_REQUIRED = "reason_required"
    ALREADY_HOLDER = "already_holder"
    UNKNOWN_CATEGORY = "unknown_category"
    BAD_RATING = "bad_rating"
    ALREADY_RULED = "already_ruled"
    NOT_COMPLAINT = "not_complaint"
    NOT_UPHELD = "not_upheld"
    APPEAL_EXPIRED = "appeal_expired"
    ALREADY_APPEALED = "already_appealed"
    NOT_APPEALED = "not_appealed"
    NOT_YOURS = "not_yours"
    NOT_HELD = "not_held"
    ALREADY_RESOLVED = "already_resolved"


# Codes by value, for the claim path: a dict lookup costs less than Enum's call, which stays
# the fallback (it raises ValueError on an unknown code, as before).
_OUTCOMES: dict[str, Outcome] = {outcome.value: outcome for outcome in Outcome}
_REASONS: dict[str, Reason] = {reason.value: reason for reason in Reason}


def outcome_of(code: str) -> Outcome:
    """The Outcome whose value (or member) `code` is; ValueError if none."""
    return _OUTCOMES.get(code) or Outcome(code)


def reason_of(code: str) -> Reason:
    """The Reason whose value (or member) `code` is; ValueError if none."""
    return _REASONS.get(code) or Reason(code)
