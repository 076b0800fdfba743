"""The validated, frozen configuration tree loaded from `config.toml`."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from server.config_errors import describe
from server.config_outcomes import ComplaintConfig, Penalties, unknown_categories
from server.config_returns import Returns
from server.config_scores import ScorecardConfig, ScoreDraw, unknown_score_tiers
from server.shifts import parse_shift

_IDENT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
Ident = Annotated[str, Field(pattern=rf"^{_IDENT.pattern}$")]
NonNegative = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(gt=0)]
# TOML arrays arrive as lists; strict mode would refuse them for a tuple field.
StrTuple = Annotated[tuple[str, ...], Field(strict=False)]
Weight = Annotated[float, Field(gt=0, strict=False)]


def _valid_shifts(specs: tuple[str, ...]) -> tuple[str, ...]:
    for spec in specs:
        parse_shift(spec)
    return specs


Shifts = Annotated[StrTuple, AfterValidator(_valid_shifts)]


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class RuleSet(_Frozen):
    """Complete claim rules: a team's defaults and every rep's effective rules."""

    max_open: NonNegative
    max_daily: NonNegative
    cooldown_after_claim_ms: NonNegative
    penalty_cooldown_ms: NonNegative
    max_claims_per_s: NonNegative = 0
    weight: Weight = 1.0
    followup_sla_ms: NonNegative = 0
    max_hold_ms: NonNegative = 0
    warn_before_ms: NonNegative = 0
    reclaim_lockout_ms: NonNegative = 0
    shifts: Shifts = ()
    complaint_penalties: Penalties = {}  # server/config_outcomes.py


class RuleOverride(_Frozen):
    """A partial rule set layered over the team defaults (tier, then rep)."""

    max_open: NonNegative | None = None
    max_daily: NonNegative | None = None
    cooldown_after_claim_ms: NonNegative | None = None
    penalty_cooldown_ms: NonNegative | None = None
    max_claims_per_s: NonNegative | None = None
    weight: Weight | None = None
    followup_sla_ms: NonNegative | None = None
    max_hold_ms: NonNegative | None = None
    warn_before_ms: NonNegative | None = None
    reclaim_lockout_ms: NonNegative | None = None
    shifts: Shifts | None = None
    complaint_penalties: Penalties | None = None


Mode = Literal["fcfs", "window"]
Policy = Literal["lottery", "least_loaded", "weighted"]


class Band(ScoreDraw):
    """An arbitration method for leads worth at least `min_value` (the highest band applies)."""

    min_value: Annotated[float, Field(ge=0, strict=False)]
    mode: Mode
    window_ms: Positive | None = None
    window_policy: Policy | None = None


class Stage(_Frozen):
    """A release stage: reps of these tiers ("*" = every other rep) may claim after `after_ms`."""

    tiers: Annotated[tuple[str, ...], Field(strict=False, min_length=1)]
    after_ms: NonNegative


class Release(_Frozen):
    """Tiered release of valuable leads: stages in order of `after_ms`."""

    min_value: Annotated[float, Field(ge=0, strict=False)] = 0.0
    stages: Annotated[tuple[Stage, ...], Field(strict=False, min_length=1)]

    @model_validator(mode="after")
    def _ordered(self) -> Release:
        times = [stage.after_ms for stage in self.stages]
        if times != sorted(times):
            raise ValueError(f"release.stages: after_ms must not decrease (got {times})")
        return self


class TeamConfig(ScoreDraw):
    """A team: its time zone, arbitration method, default rules and floor policies."""

    timezone: str = "UTC"
    mode: Mode = "fcfs"
    window_ms: Positive = 3000
    window_policy: Policy = "lottery"
    bands: Annotated[tuple[Band, ...], Field(strict=False)] = ()
    rules: RuleSet
    release: Release | None = None
    protection_period_ms: NonNegative = 0
    owner_window_ms: NonNegative = 0
    auto_assign_after_ms: NonNegative = 0
    assign_policy: Literal["none", "least_loaded", "round_robin"] = "none"
    complaints: ComplaintConfig = ComplaintConfig()  # server/config_outcomes.py
    returns: Returns = Returns()  # coming back: open leads offered, fair catch-up
    scorecard: ScorecardConfig | None = None  # server/config_scores.py

    def arbitration(self, value: float) -> tuple[str, int, str]:
        """(mode, window_ms, policy) for a lead of this value."""
        band = max((b for b in self.bands if b.min_value <= value),
                   key=lambda b: b.min_value, default=None)
        if band is None:
            return self.mode, self.window_ms, self.window_policy
        return band.mode, band.window_ms or self.window_ms, band.window_policy or self.window_policy

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # a folder or a too-long name
            raise ValueError(
                "unknown IANA time zone, expected a name like 'Europe/Berlin'") from None
        return value


class TierConfig(_Frozen):
    """A tier: rule overrides shared by the reps in it."""

    rules: RuleOverride = RuleOverride()


class RepConfig(_Frozen):
    """A rep: identity, team, tier, coverage and optional rule overrides."""

    id: Ident
    name: str = ""
    team: Ident
    tier: Ident | None = None
    regions: StrTuple = ("*",)
    skills: StrTuple = ()
    active: bool = True
    rules: RuleOverride = RuleOverride()


class ServerConfig(_Frozen):
    """Process settings: listening address, Redis, limits and retention."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    # how reps on other machines reach this server (clients dial it; the server ignores it)
    public_url: Annotated[str, Field(pattern=r"^(https?://[^\s/]+(/\S*)?)?$")] = ""
    redis_url: str = ""
    data_dir: str = "data"
    secret: str = ""
    allowed_origins: StrTuple = ()
    max_frame_bytes: Positive = 65536
    hello_timeout_ms: Positive = 5000
    send_queue_frames: Positive = 256
    ping_interval_s: Positive = 20
    stream_maxlen: Positive = 10000
    audit_maxlen: Positive = 1_000_000
    idempotency_ttl_s: Positive = 86400
    lead_retention_s: NonNegative = 30 * 86400
    metrics_rep_label_max: NonNegative = 200
    workers: Positive | Literal["auto"] = 1  # gateway processes on the port; auto: one per core
    # always: an acknowledged decision is on disk (fsync) before it is answered
    durability: Literal["always", "everysec"] = "always"
    pool_snapshot_max: Positive = 200  # open leads a rep connecting without resume receives
    pool_stale_after_s: Positive = 300  # open this long unclaimed: counted as stale (gauge)


class Config(_Frozen):
    """The whole configuration: server settings, teams, tiers and reps."""

    server: ServerConfig = ServerConfig()
    teams: dict[Ident, TeamConfig]
    tiers: dict[Ident, TierConfig] = {}
    reps: Annotated[tuple[RepConfig, ...], Field(strict=False)] = ()

    @model_validator(mode="after")
    def _stages_name_known_tiers(self) -> Config:
        for name, team in self.teams.items():
            for i, stage in enumerate(team.release.stages if team.release else ()):
                for tier in set(stage.tiers) - {"*"} - set(self.tiers):
                    raise ValueError(_unknown(f"teams.{name}.release.stages[{i}].tiers",
                                              tier, self.tiers))
        if (unknown := unknown_score_tiers(self.teams, self.tiers)) is not None:
            raise ValueError(unknown)
        return self

    @model_validator(mode="after")
    def _references_resolve(self) -> Config:
        seen: set[str] = set()
        for rep in self.reps:
            where = f"reps.{rep.id}"
            if rep.id in seen:
                raise ValueError(f"{where}.id: duplicate rep id {rep.id!r} (expected each id once)")
            seen.add(rep.id)
            if rep.team not in self.teams:
                raise ValueError(_unknown(f"{where}.team", rep.team, self.teams))
            if rep.tier is not None and rep.tier not in self.tiers:
                raise ValueError(_unknown(f"{where}.tier", rep.tier, self.tiers))
        return self

    @model_validator(mode="after")
    def _penalties_name_known_categories(self) -> Config:
        every = {c for team in self.teams.values() for c in team.complaints.categories}
        found = [unknown_categories(f"teams.{n}.rules", t.rules.complaint_penalties,
                                    t.complaints.categories) for n, t in self.teams.items()]
        found += [unknown_categories(f"tiers.{n}.rules", t.rules.complaint_penalties, every)
                  for n, t in self.tiers.items()]
        found += [unknown_categories(f"reps.{r.id}.rules", r.rules.complaint_penalties,
                                     self.teams[r.team].complaints.categories) for r in self.reps]
        if problem := next((f for f in found if f), None):
            raise ValueError(problem)
        return self

    def rep(self, rep_id: str) -> RepConfig | None:
        """The rep with this id, or None."""
        return next((r for r in self.reps if r.id == rep_id), None)


def _unknown(key: str, value: str, known: Mapping[str, object]) -> str:
    names = ", ".join(sorted(known)) or "none defined"
    return f"{key}: unknown reference {value!r} (expected one of: {names})"


def parse_config(text: str, source: str = "config.toml") -> Config:
    """Parse and validate TOML text; raise ConfigError naming key, value and expectation."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        told = describe(exc, raw, Config, RuleSet.model_fields, _IDENT)
        raise ConfigError(f"{source}: invalid configuration:\n{told}") from None


def load_config(path: str | Path) -> Config:
    """Read and validate a config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    return relative_to(parse_config(text, str(path)), path.absolute().parent)


def relative_to(config: Config, folder: Path) -> Config:
    """The config with its relative paths (`data_dir`) resolved against `folder`, the config
    file's own: every command finds the same files from any working directory."""
    data_dir = Path(config.server.data_dir)
    if data_dir.is_absolute():
        return config
    server = config.server.model_copy(update={"data_dir": str(folder / data_dir)})
    return config.model_copy(update={"server": server})
