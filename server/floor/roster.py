"""Who is in each team and what they may claim, read back from the rules in Redis."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.config import RuleSet, TeamConfig
from server.shifts import on_shift


@dataclass(frozen=True, slots=True)
class Member:
    """One rep as the scripts see them: team, tier, coverage and effective limits."""

    id: str
    team: str
    tier: str
    active: bool
    regions: frozenset[str]
    skills: frozenset[str]
    limits: Mapping[str, Any]
    timezone: str = "UTC"

    def on_shift(self, now_ms: int) -> bool:
        """Whether the rep works now (the offer filter for working hours)."""
        shifts = self.limits.get("shifts")
        return not shifts or on_shift(tuple(shifts), self.timezone, now_ms)

    def may_receive(self, region: str, skills: Iterable[str]) -> bool:
        """The offer filter: mirrors `eligible` in lua/lib/eligibility.lua (release stages are
        the offer's audience; tests/test_offer_agreement.py holds the two together)."""
        if not self.active:
            return False
        if region and "*" not in self.regions and region not in self.regions:
            return False
        return all(skill in self.skills for skill in skills)


@dataclass(frozen=True, slots=True)
class Roster:
    """Every rep of every team with the rules version each team is on."""

    members: Mapping[str, Member]
    versions: Mapping[str, int]
    teams: Mapping[str, TeamConfig] = field(default_factory=dict)

    def get(self, rep_id: str) -> Member | None:
        """A rep by id, or None when unknown."""
        return self.members.get(rep_id)


def member_from_json(rep_id: str, team: str, raw: str, timezone: str = "UTC") -> Member:
    """Parse one `rep:<id>` field of a team's rules hash."""
    body: dict[str, Any] = json.loads(raw)
    return Member(
        id=rep_id, team=team, tier=body["tier"], active=body["active"],
        regions=frozenset(body["regions"]), skills=frozenset(body["skills"]),
        limits={name: body[name] for name in RuleSet.model_fields}, timezone=timezone,
    )


def roster_from_hashes(hashes: Mapping[str, Mapping[str, str]]) -> Roster:
    """Build a roster from each team's rules hash (team -> field -> value)."""
    members: dict[str, Member] = {}
    versions: dict[str, int] = {}
    teams: dict[str, TeamConfig] = {}
    for team, fields in hashes.items():
        versions[team] = int(fields.get("version", 0))
        if "team" in fields:
            teams[team] = TeamConfig.model_validate_json(fields["team"])
        zone = teams[team].timezone if team in teams else "UTC"
        for name, raw in fields.items():
            if name.startswith("rep:"):
                rep_id = name.removeprefix("rep:")
                members[rep_id] = member_from_json(rep_id, team, raw, zone)
    return Roster(members, versions, teams)
