"""The rules versions a record names, each loaded into a replay as load_rules.lua kept it."""

from __future__ import annotations

import json

from server.config import Config, TeamConfig
from server.contracts.audit_fields import AuditField
from server.floor.arbiter import DAYS_AFTER, DAYS_BEFORE, SHIFT_DAYS_AFTER, Arbiter
from server.floor.rules import local_midnights
from server.replay.record import Record, RecordError
from server.shifts import intervals
from server.store.store import Store


class RecordedRules:
    """A team's recorded rules: the version the record starts under, and each by number."""

    def __init__(self, record: Record, team: str) -> None:
        self.record, self.team = record, team

    def first_version(self) -> int:
        for step in self.record.steps:
            if step.fields.get(AuditField.RULES_VERSION, "0") != "0":
                return int(step.fields[AuditField.RULES_VERSION])
        raise RecordError("no entry names a rules version: nothing to replay under")

    def base_config(self) -> Config:
        """A config of the first version's team settings (the arbiter's starting point)."""
        settings = json.loads(self.text(self.first_version()))["team"]
        stages = (settings.get("release") or {}).get("stages") or ()
        tiers: dict[str, dict[str, object]] = {
            tier: {} for stage in stages for tier in stage["tiers"] if tier != "*"}
        return Config.model_validate({"teams": {self.team: settings}, "tiers": tiers})

    def text(self, version: int) -> str:
        """The rules JSON of a version (from the audit, or the kept rules history)."""
        if version not in self.record.rules:
            raise RecordError(f"rules version {version} is neither in the audit nor in the "
                              "rules history (replay from --redis-url, or pass --config)")
        return self.record.rules[version]

    async def load(self, store: Store, arbiter: Arbiter, now: int, version: int) -> None:
        """Load a recorded rules version as load_rules.lua kept it, at `now`."""
        rules = json.loads(self.text(version))
        settings = TeamConfig.model_validate(rules["team"])
        days = local_midnights(settings.timezone, now, DAYS_BEFORE, DAYS_AFTER)
        reps = [(rep_id, json.dumps(rep), json.dumps(intervals(
            tuple(rep.get("shifts") or ()), settings.timezone, now, 1, SHIFT_DAYS_AFTER)))
            for rep_id, rep in rules["reps"].items()]
        digest = self.record.digests.get(version) or f"replay-v{version}"
        await store.load_rules(self.team, digest, json.dumps(rules["team"]), days, reps)
        await arbiter.refresh_roster()
