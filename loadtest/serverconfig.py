"""The config of a spawned server: one team of N reps whose rules never get in a race's way."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import NamedTuple

TEAM = "lt"
AUDIT_MAXLEN = 5_000_000
STREAM_MAXLEN = 10_000
IDEMPOTENCY_TTL_S = 3600
UNLIMITED = 1_000_000_000


class Arbitration(NamedTuple):
    """The team's arbitration method: mode, and for `window` its length and policy."""

    mode: str = "fcfs"
    window_ms: int = 3000
    window_policy: str = "lottery"


def rep_id(index: int) -> str:
    """The id of the index-th rep (0-based): r00001, r00002, ..."""
    return f"r{index + 1:05d}"


def new_secret() -> str:
    """A fresh token secret for one run."""
    return secrets.token_urlsafe(32)


def render(reps: int, how: Arbitration, port: int, data_dir: Path, secret: str) -> str:
    """A config of `reps` reps in every region, no quota, cooldown, rate limit or deadline."""
    head = f"""[server]
host = "127.0.0.1"
port = {port}
data_dir = "{data_dir}"
secret = "{secret}"
stream_maxlen = {STREAM_MAXLEN}
audit_maxlen = {AUDIT_MAXLEN}
idempotency_ttl_s = {IDEMPOTENCY_TTL_S}

[teams.{TEAM}]
timezone = "UTC"
mode = "{how.mode}"
window_ms = {how.window_ms}
window_policy = "{how.window_policy}"
rules = {{ max_open = {UNLIMITED}, max_daily = {UNLIMITED}, cooldown_after_claim_ms = 0, \
penalty_cooldown_ms = 0 }}
"""
    rows = (f'[[reps]]\nid = "{rep_id(i)}"\nteam = "{TEAM}"\nregions = ["*"]\n'
            for i in range(reps))
    return head + "\n" + "\n".join(rows)
