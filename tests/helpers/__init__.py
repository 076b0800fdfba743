"""Helpers shared by several test files: building arbiters, publishing, HTTP calls, audit rows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from server.config import parse_config
from server.contracts.results import PublishResult
from server.floor.arbiter import Arbiter
from server.floor.audit_log import KNOWN_FIELDS
from server.floor.lead import NewLead
from server.store.store import Store


async def arbiter_for(store: Store, text: str) -> Arbiter:
    """An arbiter for a TOML config, its rules applied."""
    config = parse_config(text)
    arbiter = Arbiter(store, config)
    await arbiter.apply_rules(config)
    return arbiter


async def publish(arbiter: Arbiter, lead_id: str = "L1", **fields: Any) -> PublishResult:
    """Publish a lead (team north unless given) straight through the arbiter."""
    lead = NewLead.model_validate({"id": lead_id, "team": "north", **fields})
    return await arbiter.publish(lead, "test")


def from_csv_row(row: Mapping[str, str]) -> dict[str, Any]:
    """An entry back from a CSV row (the audit never stores empty values)."""
    entry: dict[str, Any] = {k: row[k] for k in KNOWN_FIELDS if row.get(k)}
    if row.get("extra"):
        entry.update(json.loads(row["extra"]))
    return entry
