"""Fairness figures of one team, computed from its audit entries: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

SPEED_MARGIN_MS = 50  # an fcfs contest decided by less than this was decided by speed
TOP_PERCENT = 10  # the "top reps" whose share of wins is reported

Entry = tuple[str, Mapping[str, str]]  # (stream id, fields) as XRANGE returns them


@dataclass(slots=True)
class RepFigures:
    """One rep's claim attempts and outcomes in a window, as the audit recorded them."""

    wins: int = 0
    losses: int = 0
    attempts: int = 0
    rejections: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TeamFigures:
    """Team-wide fairness; None where undefined (no wins, or no contests)."""

    jain: float | None
    gini: float | None
    top10_share: float | None
    speed_decided_share: float | None
    contests: int
    speed_decided: int
    wins: int
    eligible_reps: int


@dataclass(frozen=True, slots=True)
class Fairness:
    """Per-rep figures (every rep seen or eligible) and the team's figures."""

    reps: dict[str, RepFigures]
    team: TeamFigures


def entry_ms(entry: Entry) -> int:
    """The ms timestamp in a stream entry's id (Redis time when it was written)."""
    return int(entry[0].partition("-")[0])


def since(entries: Iterable[Entry], start_ms: int) -> list[Entry]:
    """The entries written at or after `start_ms`."""
    return [e for e in entries if entry_ms(e) >= start_ms]


def jain(values: Sequence[float]) -> float | None:
    """Jain's index (Σx)² / (n·Σx²): 1 when all are equal, 1/n when one has everything."""
    squares = sum(x * x for x in values)
    if not values or squares == 0:
        return None
    return sum(values) ** 2 / (len(values) * squares)


def gini(values: Sequence[float]) -> float | None:
    """Gini by the mean absolute difference, G = ΣᵢΣⱼ|xᵢ - xⱼ| / (2·n²·μ).

    Computed from the ascending sort as G = 2·Σᵢ i·x₍ᵢ₎ / (n·Σx) - (n + 1)/n (i from 1):
    0 when all are equal, (n - 1)/n when one has everything.
    """
    total, n = sum(values), len(values)
    if n == 0 or total == 0:
        return None
    ranked = sum(i * x for i, x in enumerate(sorted(values), start=1))
    return 2 * ranked / (n * total) - (n + 1) / n


def top_share(values: Sequence[float], percent: int = TOP_PERCENT) -> float | None:
    """The share of the total held by the top ceil(percent % of n) values (at least one)."""
    total = sum(values)
    if not values or total == 0:
        return None
    k = max(1, (len(values) * percent + 99) // 100)
    return sum(sorted(values, reverse=True)[:k]) / total


def rep_figures(entries: Iterable[Entry]) -> dict[str, RepFigures]:
    """Attempts and outcomes per rep from `action=claim` entries.

    A window's settlement writes a second entry (note=settled) for a claim already counted
    as an attempt when it went pending; a repeat claim by the holder (note=already_holder)
    is an attempt but not another win.
    """
    reps: dict[str, RepFigures] = {}
    for _id, fields in entries:
        if fields.get("action") != "claim":
            continue
        rep, note, result = fields.get("rep", ""), fields.get("note", ""), fields.get("result")
        figures = reps.setdefault(rep, RepFigures())
        figures.attempts += note != "settled"
        figures.wins += result == "won" and note != "already_holder"
        figures.losses += result == "lost"
        if result == "rejected":
            reason = fields.get("reason", "")
            figures.rejections[reason] = figures.rejections.get(reason, 0) + 1
    return reps


def contest_margins_ms(entries: Iterable[Entry]) -> list[int]:
    """Per fcfs contest: ms from the winning claim to the first lost claim on that lead.

    An fcfs win is a `won` claim without a note (window wins carry note=settled); any other
    action on the lead (release, close, recycle, dispatch...) starts over. A win nobody lost
    to is not a contest.
    """
    won_at: dict[str, int] = {}
    margins: list[int] = []
    for _id, fields in entries:
        lead, action = fields.get("lead", ""), fields.get("action")
        if action != "claim":
            won_at.pop(lead, None)
        if action != "claim" or fields.get("note"):
            continue
        ts = int(fields.get("ts") or entry_ms((_id, fields)))
        if fields.get("result") == "won":
            won_at[lead] = ts
        elif fields.get("result") == "lost" and lead in won_at:
            margins.append(ts - won_at.pop(lead))
    return margins


def fairness(entries: Sequence[Entry], eligible: Collection[str]) -> Fairness:
    """Every figure for one team's entries; the indices count wins among `eligible` reps only."""
    reps = rep_figures(entries)
    for rep in eligible:
        reps.setdefault(rep, RepFigures())
    wins = [float(reps[rep].wins) for rep in sorted(eligible)]
    margins = contest_margins_ms(entries)
    fast = sum(1 for m in margins if m < SPEED_MARGIN_MS)
    team = TeamFigures(
        jain=jain(wins), gini=gini(wins), top10_share=top_share(wins),
        speed_decided_share=fast / len(margins) if margins else None,
        contests=len(margins), speed_decided=fast, wins=int(sum(wins)),
        eligible_reps=len(wins),
    )
    return Fairness(reps, team)
