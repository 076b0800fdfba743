"""The score formula: a rep's window totals, and each term's raw value, weight and share."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from server.config_scores import ScorecardConfig
from server.floor.score_tally import UPHELD

HOUR_MS = 3_600_000


@dataclass(slots=True)
class Totals:
    """A rep's counters summed over the window's local days."""

    taken: int = 0
    won: int = 0
    lost: int = 0
    kept: int = 0
    recycles: int = 0
    rating_sum: int = 0
    rating_n: int = 0
    disputes_lost: int = 0
    upheld: dict[str, int] = field(default_factory=dict)  # category -> complaints counted
    first_followups_ms: list[int] = field(default_factory=list)


def window_days(today: str, days: int) -> list[str]:
    """The local dates of a window of `days` ending with `today` (included), oldest first."""
    end = date.fromisoformat(today)
    return [(end - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]


def totals(fields: Mapping[str, str], days: Iterable[str]) -> Totals:
    """Sum a rep's day counters ('<date>|<counter>' -> value) over `days`."""
    wanted, out = set(days), Totals()
    for name, raw in fields.items():
        day, _, counter = name.partition("|")
        if day not in wanted:
            continue
        if counter == "ff":
            out.first_followups_ms += [int(v) for v in raw.split(",") if v]
        elif counter.startswith(UPHELD):
            category = counter.removeprefix(UPHELD)
            out.upheld[category] = out.upheld.get(category, 0) + int(raw)
        elif counter in Totals.__dataclass_fields__:
            setattr(out, counter, getattr(out, counter) + int(raw))
    return out


@dataclass(frozen=True, slots=True)
class Term:
    """One line of a score's explanation: contribution = weight * raw (0 when raw is None)."""

    component: str
    raw: float | None
    weight: float
    contribution: float

    def body(self) -> dict[str, Any]:
        return {"component": self.component, "raw": self.raw, "weight": self.weight,
                "contribution": self.contribution}


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def penalty_points(limits: Mapping[str, Any], upheld: Mapping[str, int]) -> float:
    """Points the `complaint_penalties` rule (category -> {points, ...}) charges for the
    counted complaints; a category without points costs none."""
    table = limits.get("complaint_penalties") or {}
    return float(sum(n * float((table.get(cat) or {}).get("points") or 0)
                     for cat, n in upheld.items()))


def terms(t: Totals, card: ScorecardConfig, points: float) -> list[Term]:
    """The score's terms in order; the score is their sum (README: "The scorecard")."""
    w = card.weights
    median = statistics.median(t.first_followups_ms) if t.first_followups_ms else None
    rating = _ratio(t.rating_sum, t.rating_n)
    raws: list[tuple[str, float | None, float]] = [
        ("base", 1.0, card.base),
        ("conversion", _ratio(t.won, t.won + t.lost), w.conversion),
        ("deadlines_kept", _ratio(t.kept, t.kept + t.recycles), w.deadlines_kept),
        ("rating", None if rating is None else (rating - 3) / 2, w.rating),
        ("complaints_per_100", sum(t.upheld.values()) * 100 / max(t.taken, 1),
         w.complaints_per_100),
        ("disputes_lost", float(t.disputes_lost), w.disputes_lost),
        ("recycles", float(t.recycles), w.recycles),
        ("first_followup_hours", None if median is None else median / HOUR_MS,
         w.first_followup_hours),
        ("leads_taken", float(t.taken), w.leads_taken),
        ("won_bonus", float(t.won), card.bonus_per_won),
        ("kept_deadline_bonus", float(t.kept), card.bonus_per_kept_deadline),
        ("complaint_penalty_points", points, -1.0),
    ]
    return [Term(name, raw, weight, 0.0 if raw is None else raw * weight + 0.0)  # no -0.0
            for name, raw, weight in raws]


def figures(t: Totals, card: ScorecardConfig, points: float) -> dict[str, Any]:
    """The scorecard's plain figures (what the terms are computed from)."""
    median = statistics.median(t.first_followups_ms) if t.first_followups_ms else None
    return {
        "leads_taken": t.taken, "won": t.won, "lost": t.lost,
        "conversion": _ratio(t.won, t.won + t.lost),
        "deadlines_kept": t.kept, "deadlines_missed": t.recycles,
        "median_first_followup_ms": median, "recycles": t.recycles,
        "average_rating": _ratio(t.rating_sum, t.rating_n), "ratings": t.rating_n,
        "upheld_complaints": sum(t.upheld.values()), "upheld_by_category": dict(t.upheld),
        "upheld_per_100_leads": sum(t.upheld.values()) * 100 / max(t.taken, 1),
        "disputes_lost": t.disputes_lost, "penalty_points": points,
        "rewards": t.won * card.bonus_per_won + t.kept * card.bonus_per_kept_deadline,
    }
