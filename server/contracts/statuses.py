"""Script statuses: the first field of every reply a Lua script in `lua/` returns.

`tests/test_statuses.py` fails if this set and the statuses the scripts return drift apart.
"""

from enum import StrEnum


class Status(StrEnum):
    """What an atomic command did (a claim answers with an `Outcome`, or `stale`)."""

    OK = "ok"
    REJECTED = "rejected"
    STALE = "stale"  # the lead or customer changed since it was read: read again and retry
    EARLY = "early"  # a timer or window not yet due
    NOOP = "noop"  # nothing to do: the timer or window is gone
    SETTLED = "settled"
    RECYCLED = "recycled"
    WARNED = "warned"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    NONE = "none"  # auto-assignment found no rep who may take the lead
    PUBLISHED = "published"
    DUPLICATE = "duplicate"
