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
    TIER = "tier"


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
    TIER_CHANGE = "tier_change"


class AuditNote(StrEnum):
    """Why a claim entry is not a plain first decision (`NOTE` in `lua/lib/audit.lua`)."""

    SETTLED = "settled"
    WINDOW_CLOSED = "window_closed"
    ALREADY_CANDIDATE = "already_candidate"
    ALREADY_HOLDER = "already_holder"
