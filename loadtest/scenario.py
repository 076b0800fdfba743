"""A load-test scenario: what to run, read from a TOML file and overridden by flags."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Kind = Literal["live", "bench", "idle"]
Ceiling = Literal["redis", "echo"]
MAX_REPS = 10_000


class ScenarioError(Exception):
    """A scenario file or flag is invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReactionGroup(_Strict):
    """A share of the reps whose reaction time is drawn uniformly from [min_ms, max_ms]."""

    share: Annotated[float, Field(gt=0, le=1)] = 1.0
    min_ms: Annotated[float, Field(ge=0, le=60_000)] = 0.0
    max_ms: Annotated[float, Field(ge=0, le=60_000)] = 50.0

    @model_validator(mode="after")
    def _ordered(self) -> ReactionGroup:
        if self.max_ms < self.min_ms:
            raise ValueError(f"max_ms ({self.max_ms}) must be >= min_ms ({self.min_ms})")
        return self


class Targets(_Strict):
    """Pass/fail thresholds checked after the run; a missing one is not checked."""

    claim_p99_ms: float | None = None
    fanout_last_p99_ms: float | None = None
    claim_vs_echo_throughput_min: float | None = None
    claim_vs_echo_p99_max: float | None = None
    rss_kb_per_connection_max: float | None = None
    max_errors: int | None = None


class Scenario(_Strict):
    """Everything one run does: how many reps, what they do, for how long, what is checked."""

    name: str = "adhoc"
    kind: Kind = "live"
    reps: Annotated[int, Field(ge=1, le=MAX_REPS)] = 100
    workers: Annotated[int, Field(ge=1, le=32)] = 2
    duration_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    rate_per_s: Annotated[float, Field(gt=0, le=10_000)] = 10.0
    claimers_per_lead: Annotated[int, Field(ge=0, le=MAX_REPS)] = 5
    reaction: tuple[ReactionGroup, ...] = (ReactionGroup(),)
    mode: str = "fcfs"
    codec: Literal["json", "msgpack"] = "json"
    compression: bool = False
    bench_leads: Annotated[int, Field(ge=1, le=100_000)] = 1000
    ceilings: tuple[Ceiling, ...] | None = None
    ceiling_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    warmup_s: Annotated[float, Field(ge=0, le=60)] = 1.0
    settle_s: Annotated[float, Field(ge=0, le=60)] = 2.0
    connect_timeout_s: Annotated[float, Field(gt=0, le=600)] = 120.0
    connect_concurrency: Annotated[int, Field(ge=1, le=1000)] = 50
    seed: int = 1
    targets: Targets = Targets()

    def wanted_ceilings(self) -> tuple[Ceiling, ...]:
        """The ceilings to measure: as configured, else what suits the kind."""
        if self.ceilings is not None:
            return self.ceilings
        defaults: dict[str, tuple[Ceiling, ...]] = {
            "bench": ("redis", "echo"), "live": ("redis",), "idle": (),
        }
        return defaults[self.kind]


def load(path: Path | None, overrides: Mapping[str, Any]) -> Scenario:
    """A scenario from a TOML file (or defaults), with flag overrides applied on top."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ScenarioError(f"{path}: cannot read scenario: {exc}") from None
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(f"{path or 'flags'}: invalid scenario:\n{_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "scenario"
        lines.append(f"  {loc}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def parse_reaction(text: str) -> tuple[ReactionGroup, ...]:
    """`0-50` or `0.2:0-20,0.8:20-200` (share:min-max in ms) as reaction groups."""
    groups = []
    for part in text.split(","):
        share, _, span = part.rpartition(":")
        low, sep, high = span.partition("-")
        if not sep:
            raise ScenarioError(f"--reaction: expected MIN-MAX or SHARE:MIN-MAX, got {part!r}")
        try:
            groups.append(ReactionGroup(share=float(share or 1), min_ms=float(low),
                                        max_ms=float(high)))
        except (ValueError, ValidationError) as exc:
            raise ScenarioError(f"--reaction: {part!r}: {exc}") from None
    return tuple(groups)
