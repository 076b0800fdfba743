"""Effective rules per rep (team defaults, then tier, then rep) and their Redis form."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from server.config import Config, RepConfig, RuleOverride, RuleSet
from server.config_outcomes import layered


@dataclass(frozen=True, slots=True)
class EffectiveRep:
    """Everything the claim script needs to know about one rep."""

    id: str
    team: str
    tier: str | None
    active: bool
    regions: tuple[str, ...]
    skills: tuple[str, ...]
    rules: RuleSet

    def to_json(self) -> str:
        """The compact JSON the Lua scripts decode."""
        body = {
            "active": self.active,
            "tier": self.tier or "",
            "regions": list(self.regions),
            "skills": list(self.skills),
            "has_shifts": bool(self.rules.shifts),
            **self.rules.model_dump(),
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True)


def _layer(base: RuleSet, override: RuleOverride) -> RuleSet:
    changes = layered(dict(base), {k: v for k, v in override if v is not None})
    return base.model_copy(update=changes) if changes else base


def effective_rep(config: Config, rep: RepConfig, tier: str | None = None) -> EffectiveRep:
    """Resolve a rep's rules: team default → tier override → rep override. `tier` (an earned
    or pinned tier, server/floor/tiers.py) replaces the configured one when given."""
    tier = tier if tier in config.tiers else rep.tier
    rules = config.teams[rep.team].rules
    if tier is not None:
        rules = _layer(rules, config.tiers[tier].rules)
    rules = _layer(rules, rep.rules)
    return EffectiveRep(rep.id, rep.team, tier, rep.active, rep.regions, rep.skills, rules)


def team_reps(config: Config, team: str,
              tiers: Mapping[str, str] | None = None) -> list[EffectiveRep]:
    """Effective rules of every rep in a team, in roster order; `tiers`: rep -> tier in force
    instead of the configured one (see `tier_overrides`)."""
    tiers = tiers or {}
    return [effective_rep(config, r, tiers.get(r.id)) for r in config.reps if r.team == team]


def team_digest(config: Config, team: str, tiers: Mapping[str, str] | None = None) -> str:
    """A stable digest of everything a team's scripts enforce (skips reloads of the same rules)."""
    parts = [config.teams[team].model_dump_json()]
    parts += [f"{r.id}={r.to_json()}" for r in team_reps(config, team, tiers)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def tier_overrides(fields: Mapping[str, str]) -> dict[str, str]:
    """Rep -> tier in force from a team's tiers hash: a manager's pin, else the earned tier."""
    found = {k.removeprefix("earned:"): v for k, v in fields.items() if k.startswith("earned:")}
    found.update({k.removeprefix("pin:"): v for k, v in fields.items() if k.startswith("pin:")})
    return found


def local_midnights(timezone: str, around_ms: int, days_before: int, days_after: int) -> list[
    tuple[str, int]
]:
    """(local date, UTC ms of its local midnight) for each day in the range, DST-correct."""
    zone = ZoneInfo(timezone)
    today = datetime.fromtimestamp(around_ms / 1000, zone).date()
    return [
        (day.isoformat(), _midnight_ms(day, zone))
        for day in (today + timedelta(days=n) for n in range(-days_before, days_after + 1))
    ]


def _midnight_ms(day: date, zone: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)
