"""Fairness figures of one team, counted from its audit entries once each: no I/O."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from server.contracts.audit_fields import AuditAction, AuditField, AuditNote
from server.contracts.reasons import Outcome

SPEED_MARGIN_MS = 50  # an fcfs contest decided by less than this was decided by speed
TOP_PERCENT = 10  # the "top reps" whose share of wins is reported

Entry = tuple[str, Mapping[str, str]]  # (stream id, fields) as XRANGE returns them
# The names and values counted by, as plain strings: looked up once per entry, so no enum
# attribute lookups in the per-entry loop
_TS, _ACTION, _LEAD, _REP = AuditField.TS.value, AuditField.ACTION.value, \
    AuditField.LEAD.value, AuditField.REP.value
_RESULT, _REASON, _NOTE = AuditField.RESULT.value, AuditField.REASON.value, AuditField.NOTE.value
_CLAIM, _SETTLED = AuditAction.CLAIM.value, AuditNote.SETTLED.value
_ALREADY_HOLDER = AuditNote.ALREADY_HOLDER.value
_WON, _LOST, _REJECTED = Outcome.WON.value, Outcome.LOST.value, Outcome.REJECTED.value
_DECIDING = frozenset((_WON, _LOST))  # the results a contest's timing looks at


@dataclass(slots=True)
class RepFigures:
    """One rep's claim attempts and outcomes in a window, as the audit recorded them."""

    wins: int = 0
    losses: int = 0
    attempts: int = 0
    rejections: dict[str, int] = field(default_factory=dict)

    def add(self, other: RepFigures, sign: int = 1) -> None:
        self.wins += sign * other.wins
        self.losses += sign * other.losses
        self.attempts += sign * other.attempts
        for reason, n in other.rejections.items():
            left = self.rejections.get(reason, 0) + sign * n
            if left:
                self.rejections[reason] = left
            else:
                self.rejections.pop(reason, None)

    def empty(self) -> bool:
        return not (self.wins or self.losses or self.attempts or self.rejections)


@dataclass(slots=True)
class Counts:
    """What fairness is computed from: claim outcomes per rep and the fcfs contests.

    Counts add and subtract, so a sliding window is kept as a running sum of per-minute
    counts: each audit entry is counted once, and a window moves by whole minutes.
    """

    reps: dict[str, RepFigures] = field(default_factory=dict)
    contests: int = 0
    speed_decided: int = 0
    entries: int = 0

    def add(self, other: Counts, sign: int = 1) -> None:
        """Add (or with sign=-1 take away) another's counts; reps a taking away leaves with
        nothing go (an addition keeps a rep seen with nothing, as counting it did)."""
        self.contests += sign * other.contests
        self.speed_decided += sign * other.speed_decided
        self.entries += sign * other.entries
        for rep, figures in other.reps.items():
            mine = self.reps.setdefault(rep, RepFigures())
            mine.add(figures, sign)
            if sign < 0 and mine.empty():
                del self.reps[rep]


class Contests:
    """Which fcfs win each lead stands on, to time the first claim that lost to it.

    A contest is an fcfs win (a `won` claim without a note; window wins carry note=settled)
    that someone lost to; its margin is the ms from the win to the first lost claim on that
    lead. Any other action on the lead (release, close, recycle, dispatch...) starts over.
    Leads won but never contested are forgotten oldest first beyond `bound`.
    """

    def __init__(self, bound: int = 100_000) -> None:
        self.won_at: dict[str, int] = {}
        self.bound = bound

    def decide(self, lead: str, result: str | None, entry: Entry) -> int | None:
        """Note an fcfs claim's result (a claim entry without a note): the margin of the
        contest it decides, if it decides one."""
        if result == _WON:
            self.won_at[lead] = _ts(entry)
            if len(self.won_at) > self.bound:
                del self.won_at[next(iter(self.won_at))]
        elif result == _LOST and lead in self.won_at:
            return _ts(entry) - self.won_at.pop(lead)
        return None

    def forget(self, lead: str) -> None:
        """Any action on a lead but a claim starts its contest over."""
        self.won_at.pop(lead, None)


def _ts(entry: Entry) -> int:
    return int(entry[1].get(_TS) or entry_ms(entry))


def count_entry(entry: Entry, contests: Contests, counts: Counts) -> None:
    """Count one audit entry, in stream order, into `counts`, timing with `contests` the
    fcfs contest it decides, if any.

    A window's settlement writes a second entry (note=settled) for a claim already counted
    as an attempt when it went pending; a repeat claim by the holder (note=already_holder)
    is an attempt but not another win.
    """
    fields = entry[1]
    counts.entries += 1
    lead = fields.get(_LEAD, "")
    if fields.get(_ACTION) != _CLAIM:
        contests.forget(lead)
        return
    rep, note, result = fields.get(_REP, ""), fields.get(_NOTE, ""), fields.get(_RESULT)
    if not note:
        margin = contests.decide(lead, result, entry) if result in _DECIDING else None
        if margin is not None:
            counts.contests += 1
            counts.speed_decided += margin < SPEED_MARGIN_MS
    figures = counts.reps.get(rep)
    if figures is None:
        figures = counts.reps[rep] = RepFigures()
    figures.attempts += note != _SETTLED
    if result == _WON:
        figures.wins += note != _ALREADY_HOLDER
    elif result == _LOST:
        figures.losses += 1
    elif result == _REJECTED:
        reason = fields.get(_REASON, "")
        figures.rejections[reason] = figures.rejections.get(reason, 0) + 1


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


def figures(counts: Counts, eligible: Collection[str]) -> Fairness:
    """Every figure from counted entries; the indices count wins among `eligible` reps only."""
    reps = {rep: RepFigures(f.wins, f.losses, f.attempts, dict(f.rejections))
            for rep, f in counts.reps.items()}
    for rep in eligible:
        reps.setdefault(rep, RepFigures())
    wins = [float(reps[rep].wins) for rep in sorted(eligible)]
    contests, fast = counts.contests, counts.speed_decided
    team = TeamFigures(
        jain=jain(wins), gini=gini(wins), top10_share=top_share(wins),
        speed_decided_share=fast / contests if contests else None,
        contests=contests, speed_decided=fast, wins=int(sum(wins)),
        eligible_reps=len(wins),
    )
    return Fairness(reps, team)


def fairness(entries: Iterable[Entry], eligible: Collection[str]) -> Fairness:
    """Every figure for one team's entries, in stream order."""
    counts, contests = Counts(), Contests()
    for entry in entries:
        count_entry(entry, contests, counts)
    return figures(counts, eligible)
