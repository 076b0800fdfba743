"""A load-test scenario: what to run, read from a TOML file and overridden by flags."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loadtest.serverconfig import Arbitration

Kind = Literal["live", "bench", "idle"]
Ceiling = Literal["redis", "echo"]
Mode = Literal["fcfs", "window"]
Policy = Literal["lottery", "least_loaded", "weighted"]
MAX_REPS = 10_000
MAX_WINDOW_MS = 60_000


class ScenarioError(Exception):
    """A scenario file or flag is invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReactionGroup(_Strict):
    """A share (or an exact count) of the reps, reacting uniformly within [min_ms, max_ms]."""

    share: Annotated[float, Field(gt=0, le=1)] = 1.0
    count: Annotated[int, Field(ge=1, le=MAX_REPS)] | None = None
    min_ms: Annotated[float, Field(ge=0, le=60_000)] = 0.0
    max_ms: Annotated[float, Field(ge=0, le=60_000)] = 50.0

    @model_validator(mode="after")
    def _ordered(self) -> ReactionGroup:
        if self.max_ms < self.min_ms:
            raise ValueError(f"max_ms ({self.max_ms}) must be >= min_ms ({self.min_ms})")
        if self.count is not None and "share" in self.model_fields_set:
            raise ValueError("give share or count, not both")
        return self

    @property
    def weight(self) -> float:
        """The group's size: its exact count, else its share."""
        return float(self.count) if self.count is not None else self.share


class Targets(_Strict):
    """Pass/fail thresholds checked after the run; a missing one is not checked."""

    claim_p99_ms: float | None = None
    fanout_last_p99_ms: float | None = None
    claim_vs_echo_throughput_min: float | None = None
    claim_vs_echo_p99_max: float | None = None
    rss_kb_per_connection_max: float | None = None
    max_errors: int | None = None
    jain_min: Annotated[float, Field(gt=0, le=1)] | None = None
    window_added_p99_ms: Annotated[float, Field(ge=0)] | None = None


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
    mode: Mode = "fcfs"
    window_ms: Annotated[int, Field(ge=1, le=MAX_WINDOW_MS)] = 3000
    window_policy: Policy = "lottery"
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

    @model_validator(mode="after")
    def _counts_fit(self) -> Scenario:
        counts = [g.count for g in self.reaction]
        if any(c is not None for c in counts):
            if None in counts:
                raise ValueError("reaction: give every group a count, or none")
            if sum(c or 0 for c in counts) != self.reps:
                raise ValueError(f"reaction: group counts sum to {sum(c or 0 for c in counts)}"
                                 f", expected reps = {self.reps}")
        return self

    def arbitration(self) -> Arbitration:
        """The team's arbitration method written into a generated server config."""
        return Arbitration(self.mode, self.window_ms, self.window_policy)

    def settle_for_s(self) -> float:
        """Seconds to keep listening after the last lead: settle_s, plus a window's length."""
        return self.settle_s + (self.window_ms / 1000 if self.mode == "window" else 0.0)

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
        loc = ".".join(str(p) for p in err["loc"])
        if loc:
            lines.append(f"  {loc}: {err['msg']} (got {err.get('input')!r})")
        else:  # a check across keys: the message names them
            lines.append(f"  {err['msg'].removeprefix('Value error, ')}")
    return "\n".join(lines)


def parse_reaction(text: str) -> tuple[ReactionGroup, ...]:
    """`0-50`, `0.2:0-20,0.8:20-200` (share:min-max ms) or `5x0-1,15x30-60` (count x min-max)."""
    return tuple(_group(part) for part in text.split(","))


def _group(part: str) -> ReactionGroup:
    count, by_count, rest = part.partition("x")
    share, _, span = (rest if by_count else part).rpartition(":")
    low, sep, high = span.partition("-")
    if not sep or (by_count and share):
        raise ScenarioError(f"--reaction: expected MIN-MAX, SHARE:MIN-MAX or COUNTxMIN-MAX, "
                            f"got {part!r}")
    try:
        size: dict[str, Any] = {"count": int(count)} if by_count else {"share": float(share or 1)}
        return ReactionGroup(**size, min_ms=float(low), max_ms=float(high))
    except (ValueError, ValidationError) as exc:
        raise ScenarioError(f"--reaction: {part!r}: {exc}") from None
