"""Audit entry field names, actions and notes: the Python mirror of `lua/lib/audit.lua`."""

from enum import StrEnum


class AuditField(StrEnum):
    """A field an audit entry may carry, in the order entries carry them (the CSV columns
    after `id`); `tests/test_lua_contracts.py` fails if this and `AUDIT_FIELDS` drift apart."""

    TS = "ts"
    ACTION = "action"
    LEAD = "lead"
    REP = "rep"
    ACTOR = "actor"
    REQ = "req"
    RESULT = "result"
    REASON = "reason"
    NOTE = "note"
    RETRY_AFTER_MS = "retry_after_ms"
    RULES_VERSION = "rules_version"
    SEQ = "seq"
    OUTCOME = "outcome"
    POLICY = "policy"
    SEED = "seed"
    CONTENDERS = "contenders"
    DIGEST = "digest"
    CUSTOMER = "customer"
    PREV = "prev"
    FORCE = "force"
    DEADLINE_MS = "deadline_ms"
    AUDIENCE = "audience"
    VALUE = "value"
    REGION = "region"
    MODE = "mode"
    PAYLOAD = "payload"
    RULES = "rules"
    REF = "ref"  # a feedback's or dispute's own id
    CATEGORY = "category"
    STATUS = "status"
    RATING = "rating"
    TIER = "tier"
    CONTACT_AT = "contact_at"  # ms: the contact a feedback is about (its rep held the lead then)


class AuditAction(StrEnum):
    """What an audit entry records (`ACTION` in `lua/lib/audit.lua`)."""

    RULES_LOADED = "rules_loaded"
    PUBLISH = "publish"
    ASSIGN = "assign"
    OFFER = "offer"
    CLAIM = "claim"
    SETTLE = "settle"
    RELEASE = "release"
    CLOSE = "close"
    FOLLOWUP = "followup"
    WARN = "warn"
    RECYCLE = "recycle"
    DISPATCH = "dispatch"
    REASSIGN = "reassign"
    WITHDRAW = "withdraw"
    AUTO_ASSIGN = "auto_assign"
    PAUSE = "pause"
    RESUME = "resume"
    FEEDBACK = "feedback"
    COMPLAINT_RULING = "complaint_ruling"
    APPEAL = "appeal"
    APPEAL_RULING = "appeal_ruling"
    DISPUTE = "dispute"
    DISPUTE_RULING = "dispute_ruling"
    TIER_CHANGE = "tier_change"


class AuditNote(StrEnum):
    """Why a claim entry is not a plain first decision (`NOTE` in `lua/lib/audit.lua`)."""

    SETTLED = "settled"
    WINDOW_CLOSED = "window_closed"
    ALREADY_CANDIDATE = "already_candidate"
    ALREADY_HOLDER = "already_holder"
