"""The scorecard's config: window, weights, bonuses, earned tiers and score-weighted draws."""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Number = Annotated[float, Field(strict=False, allow_inf_nan=False)]
PositiveNumber = Annotated[float, Field(gt=0, strict=False, allow_inf_nan=False)]
TierName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ScoreWeights(_Frozen):
    """Points per unit of each scorecard term (README "The scorecard" defines each raw value)."""

    conversion: Number = 40.0  # times won / closed (0..1)
    deadlines_kept: Number = 30.0  # times kept / (kept + missed) (0..1)
    rating: Number = 10.0  # times (average rating - 3) / 2 (-1..1)
    complaints_per_100: Number = -2.0  # times upheld complaints per 100 leads taken
    disputes_lost: Number = -5.0  # times disputes lost
    recycles: Number = -1.0  # times leads taken back for a missed deadline
    first_followup_hours: Number = 0.0  # times median hours, lead taken to first follow-up
    leads_taken: Number = 0.0  # times leads taken


class ScoreTier(_Frozen):
    """The score band a tier is earned in: [min_score, max_score), either end open."""

    min_score: Number | None = None
    max_score: Number | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ScoreTier:
        if self.min_score is None and self.max_score is None:
            raise ValueError("a tier needs min_score, max_score or both")
        if None not in (self.min_score, self.max_score) and \
                self.min_score >= self.max_score:  # type: ignore[operator]
            raise ValueError(f"min_score ({self.min_score}) must be below max_score "
                             f"({self.max_score})")
        return self

    def holds(self, score: float, margin: float = 0.0) -> bool:
        """Whether `score` lies in the band widened by `margin` on both ends."""
        low = self.min_score is None or score >= self.min_score - margin
        return low and (self.max_score is None or score < self.max_score + margin)


class ScorecardConfig(_Frozen):
    """`[teams.<t>.scorecard]`: how each rep's score is computed and what it earns."""

    window_days: Annotated[int, Field(ge=1, le=366)] = 30
    base: Number = 50.0
    weights: ScoreWeights = ScoreWeights()
    bonus_per_won: Number = 1.0  # reward: points per lead closed as won
    bonus_per_kept_deadline: Number = 0.2  # reward: points per follow-up made in time
    refresh_s: Annotated[int, Field(ge=1, le=3600)] = 15  # how often scores are recomputed
    tiers: dict[TierName, ScoreTier] = {}
    hysteresis: Annotated[float, Field(ge=0, strict=False, allow_inf_nan=False)] = 5.0
    evaluate_at: str = "06:00"  # local time (team time zone) of the daily tier evaluation

    @model_validator(mode="after")
    def _valid(self) -> ScorecardConfig:
        if not _HHMM.match(self.evaluate_at):
            raise ValueError(f"evaluate_at: expected a local time HH:MM (got "
                             f"{self.evaluate_at!r})")
        bands = sorted(self.tiers.items(), key=lambda kv: _low(kv[1]))
        for (low, a), (high, b) in itertools.pairwise(bands):
            if a.max_score is None or b.min_score is None or a.max_score > b.min_score:
                raise ValueError(f"tiers: the bands of {low!r} and {high!r} overlap")
        return self

    def evaluate_minute(self) -> int:
        """Minutes after local midnight at which tiers are evaluated."""
        hours, minutes = self.evaluate_at.split(":")
        return int(hours) * 60 + int(minutes)


def _low(band: ScoreTier) -> float:
    return float("-inf") if band.min_score is None else band.min_score


class ScoreDraw(_Frozen):
    """Where a `weighted` window draw takes each rep's weight from, with its guard rails
    (on a team, or on a band where unset fields fall back to the team's)."""

    weight_from: Literal["rule", "score"] | None = None  # team default: "rule"
    weight_floor: PositiveNumber | None = None  # team default: 1.0 (nobody starved)
    weight_cap: PositiveNumber | None = None  # team default: none (a cap stops a monopoly)

    @model_validator(mode="after")
    def _floor_below_cap(self) -> ScoreDraw:
        if self.weight_floor is not None and self.weight_cap is not None and \
                self.weight_floor > self.weight_cap:
            raise ValueError(f"weight_floor ({self.weight_floor}) must not exceed weight_cap "
                             f"({self.weight_cap})")
        return self


def unknown_score_tiers(teams: Mapping[str, object], tiers: Collection[str]) -> str | None:
    """The first `teams.<t>.scorecard.tiers` name that is not a configured tier, as a message."""
    for name, team in teams.items():
        card: ScorecardConfig | None = getattr(team, "scorecard", None)
        for tier in sorted(set(card.tiers) - set(tiers)) if card else ():
            known = ", ".join(sorted(tiers)) or "none defined"
            return (f"teams.{name}.scorecard.tiers: unknown reference {tier!r} "
                    f"(expected one of: {known})")
    return None


def scorecard_lines(teams: Mapping[str, object]) -> list[str]:
    """What `leadgrab check-config` shows of each team's scorecard and score-weighted draws."""
    lines = []
    for name, team in teams.items():
        card: ScorecardConfig | None = getattr(team, "scorecard", None)
        if getattr(team, "weight_from", None) == "score":
            lines.append(f"  team {name} draws: weight_from=score "
                         f"floor={getattr(team, 'weight_floor', None) or 1.0} "
                         f"cap={getattr(team, 'weight_cap', None) or '-'}")
        if card is None:
            continue
        weights = " ".join(f"{k}={v}" for k, v in card.weights.model_dump().items())
        tiers = " ".join(f"{t}=[{b.min_score if b.min_score is not None else '-'},"
                         f"{b.max_score if b.max_score is not None else '-'})"
                         for t, b in card.tiers.items()) or "-"
        lines.append(f"  team {name} scorecard: window_days={card.window_days} base={card.base}"
                     f" bonus_per_won={card.bonus_per_won} bonus_per_kept_deadline="
                     f"{card.bonus_per_kept_deadline} {weights} tiers={tiers} hysteresis="
                     f"{card.hysteresis} evaluate_at={card.evaluate_at}")
    return lines
