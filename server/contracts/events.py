"""Event types of a team's events stream: the Python mirror of `lua/lib/events.lua`."""

from enum import StrEnum


class EventType(StrEnum):
    """The `type` of an events-stream entry; `tests/test_lua_contracts.py` fails if this set
    and `EVENT` in `lua/lib/events.lua` drift apart."""

    LEAD = "lead"
    TAKEN = "taken"
    ASSIGNED = "assigned"
    REVOKED = "revoked"
    WARN = "warn"
    WITHDRAWN = "withdrawn"
    PAUSE = "pause"
    SETTLED = "settled"
    COMPLAINT = "complaint"
    DISPUTE = "dispute"
    TIER = "tier"
