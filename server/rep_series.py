"""Per-rep metric series: recorded only for roster reps, and only while the roster is small."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Mapping
from typing import Protocol, TypeVar

from prometheus_client import Counter, Gauge, Histogram

RECENT_LEADS = 10_000  # offers (and early wins) remembered to time publish -> win
K = TypeVar("K")
V = TypeVar("V")


class RepFamilies(Protocol):
    """The rep-labelled metric families (server.metrics.Metrics holds them; declared here so
    this module does not import the one that imports it)."""

    rep_offers: Counter
    rep_attempts: Counter
    rep_wins: Counter
    rep_losses: Counter
    rep_rejections: Counter
    rep_followup_misses: Counter
    rep_win_seconds: Histogram

    def per_rep(self) -> list[Counter | Gauge | Histogram]: ...


class RepCounters:
    """One rep's series, looked up once: `labels()` costs more than the increment itself,
    and offers are counted per socket on every broadcast."""

    __slots__ = ("attempts", "losses", "m", "misses", "offers", "rejections", "rep", "team",
                 "wins")

    def __init__(self, m: RepFamilies, team: str, rep: str) -> None:
        self.m, self.team, self.rep = m, team, rep
        self.offers = m.rep_offers.labels(team, rep)
        self.attempts = m.rep_attempts.labels(team, rep)
        self.wins = m.rep_wins.labels(team, rep)
        self.losses = m.rep_losses.labels(team, rep)
        self.misses = m.rep_followup_misses.labels(team, rep)
        self.rejections: dict[str, Counter] = {}

    def rejected(self, reason: str) -> None:
        child = self.rejections.get(reason)
        if child is None:
            child = self.rejections[reason] = self.m.rep_rejections.labels(self.team, self.rep,
                                                                             reason)
        child.inc()


class RepSeries:
    """Counts offers, claims and outcomes per rep; the rep label is bounded by the roster size.

    Above `label_max` reps, per-rep series are cleared and no longer recorded: a label per rep
    of a large roster would multiply every series by its size (cardinality bound).
    """

    def __init__(self, metrics: RepFamilies, label_max: int) -> None:
        self.m = metrics
        self.label_max = label_max
        self.teams: dict[str, str] = {}  # rep -> team, for the reps that get series
        self.counters: dict[str, RepCounters] = {}
        self.offered_ms: dict[tuple[str, str], int] = {}
        self.early_wins: dict[tuple[str, str], tuple[str, float]] = {}

    def set_roster(self, teams: Mapping[str, str]) -> None:
        """Follow the roster (rep -> team): series for its reps, none above the bound.

        A new rep's series start at zero, so a rep who never wins shows up too."""
        if len(teams) > self.label_max:
            if self.teams:
                for series in self.m.per_rep():
                    series.clear()
            self.teams, self.counters = {}, {}
            return
        known = self.counters
        self.counters = {rep: known[rep] if rep in known and known[rep].team == team
                         else RepCounters(self.m, team, rep) for rep, team in teams.items()}
        self.teams = dict(teams)

    def offered(self, rep: str) -> None:
        """One lead offer queued to one of the rep's connections."""
        counters = self.counters.get(rep)
        if counters is not None:
            counters.offers.inc()

    def offered_each(self, reps: list[str]) -> None:
        """Lead offers queued to these reps' connections (a rep once per connection), counted
        in bulk after a delivery; nothing to do above the label bound."""
        if not self.counters or not reps:
            return
        for rep, times in Tally(reps).items():
            counters = self.counters.get(rep)
            if counters is not None:
                counters.offers.inc(times)

    def claimed(self, rep: str, lead_id: str, result: str, reason: str | None) -> None:
        """A claim request decided here: one attempt, and its outcome unless pending."""
        counters = self.counters.get(rep)
        if counters is not None:
            counters.attempts.inc()
            self._decided(counters, lead_id, result, reason)

    def decided(self, rep: str, lead_id: str, result: str, reason: str | None) -> None:
        """A final outcome served here (directly, or when a window settled)."""
        counters = self.counters.get(rep)
        if counters is not None:
            self._decided(counters, lead_id, result, reason)

    def _decided(self, counters: RepCounters, lead_id: str, result: str,
                 reason: str | None) -> None:
        if result == "won":
            counters.wins.inc()
            self._won(counters.team, lead_id, counters.rep)
        elif result == "lost":
            counters.losses.inc()
        elif result == "rejected":
            counters.rejected(reason or "")

    def followup_missed(self, rep: str) -> None:
        """A deadline timer fired here took a lead back from the rep (a miss, counted once)."""
        counters = self.counters.get(rep)
        if counters is not None:
            counters.misses.inc()

    def lead_offered(self, team: str, lead_id: str, published_ms: int) -> None:
        """A lead's offer seen on the tail: times a win served before it arrived, or later."""
        early = self.early_wins.pop((team, lead_id), None)
        if early is not None:
            self._observe(team, early[0], early[1] - published_ms / 1000)
            return
        _remember(self.offered_ms, (team, lead_id), published_ms)

    def _won(self, team: str, lead_id: str, rep: str) -> None:
        published_ms = self.offered_ms.pop((team, lead_id), None)
        if published_ms is None:
            _remember(self.early_wins, (team, lead_id), (rep, time.time()))
        else:
            self._observe(team, rep, time.time() - published_ms / 1000)

    def _observe(self, team: str, rep: str, seconds: float) -> None:
        if rep in self.teams:
            self.m.rep_win_seconds.labels(team, rep).observe(max(seconds, 0.0))


def _remember(memory: dict[K, V], key: K, value: V) -> None:
    """Insert, dropping the oldest entry beyond RECENT_LEADS."""
    memory[key] = value
    if len(memory) > RECENT_LEADS:
        del memory[next(iter(memory))]
