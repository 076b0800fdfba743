"""Helpers shared by several test files: building arbiters, publishing, HTTP calls, audit rows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from server.floor.audit_log import KNOWN_FIELDS


def from_csv_row(row: Mapping[str, str]) -> dict[str, Any]:
    """An entry back from a CSV row (the audit never stores empty values)."""
    entry: dict[str, Any] = {k: row[k] for k in KNOWN_FIELDS if row.get(k)}
    if row.get("extra"):
        entry.update(json.loads(row["extra"]))
    return entry
