"""Each rep's scorecard over a rolling window, from day counters kept up from the audit.

Design for cost: the audit stream may hold a million entries, so no request reads it whole.
`refresh` reads only the entries after a cursor kept in Redis (a chunk at a time), counts
each into per-rep, per-local-day counters (server/floor/score_tally.py) and applies them
with tally_scores.lua, which moves the cursor only if no other process did first. A
scorecard is then a sum over at most `window_days` days of one small hash per rep, and the
score a sum of terms (server/floor/score_terms.py). The background loop writes every rep's
score where the draw scripts read it and evaluates earned tiers on schedule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from server.background import stop_requested
from server.config_scores import ScorecardConfig
from server.floor.arbiter import Arbiter
from server.floor.score_tally import Counting, leads_and_refs
from server.floor.score_terms import Term, figures, penalty_points, terms, totals, window_days
from server.metrics import Metrics
from server.store.store import StoreError

log = logging.getLogger(__name__)
READ_CHUNK = 500  # audit entries counted per script call
FIRST_LOOK_DAYS = 400  # a fresh cursor starts this far back (more than any window)
DAY_MS = 86_400_000
DEFAULT = ScorecardConfig()


@dataclass(frozen=True, slots=True)
class Card:
    """One rep's scorecard: the window, the figures, the score and its terms."""

    rep: str
    team: str
    tier: str | None
    since: str
    until: str
    days: int
    figures: dict[str, Any]
    terms: list[Term]

    @property
    def score(self) -> float:
        return sum(term.contribution for term in self.terms)

    def body(self) -> dict[str, Any]:
        """The API's view of the card."""
        return {"rep": self.rep, "team": self.team, "tier": self.tier,
                "window": {"since": self.since, "until": self.until, "days": self.days},
                "score": round(self.score, 6), "figures": self.figures,
                "terms": [t.body() for t in self.terms]}


Tick = Callable[[str, list[Card]], Awaitable[object]]  # run after each team's refresh


class Scorecards:
    """Counts each team's audit into day counters and answers scorecards from them."""

    def __init__(self, arbiter: Arbiter, metrics: Metrics | None = None) -> None:
        self.arbiter, self.metrics = arbiter, metrics
        self.pruned: dict[str, str] = {}  # team -> the local day its counters were pruned

    def card_config(self, team: str) -> ScorecardConfig:
        """The team's `[scorecard]` settings (the defaults when it has none)."""
        return self.arbiter.team(team).scorecard or DEFAULT

    def zone(self, team: str) -> ZoneInfo:
        return ZoneInfo(self.arbiter.team(team).timezone)

    async def refresh(self, team: str) -> int:
        """Count the audit entries added since the last refresh (any process's); returns how
        many this call counted."""
        store, counted = self.arbiter.store, 0
        first_ms = await self.arbiter.redis_time_ms() - FIRST_LOOK_DAYS * DAY_MS
        while not stop_requested():
            stored = await store.tally_cursor(team)  # '' before the first count
            after = stored or f"{max(first_ms, 0)}-0"
            rows = await store.audit_range(team, "(" + after, "+", READ_CHUNK)
            if rows and await self._apply(team, stored, rows):
                counted += len(rows)
            if len(rows) < READ_CHUNK:
                break
            await asyncio.sleep(0)
        return counted

    async def _apply(self, team: str, stored: str,
                     rows: list[tuple[str, dict[str, str]]]) -> bool:
        """Count a batch and apply it if the cursor is still `stored` (else another process
        counted it first: this one reads on)."""
        store = self.arbiter.store
        leads, refs = leads_and_refs(rows)
        takes, standing = await store.tally_state(team, leads, refs)
        counting = Counting(self.zone(team), takes, standing)
        for _, fields in rows:
            counting.count(fields)
        return await store.apply_tally(team, stored, rows[-1][0], counting.finish(),
                                       await self._prune_from(team))

    async def _prune_from(self, team: str) -> str:
        """The oldest local day to keep, once a day per process ('' otherwise)."""
        today = await self.today(team)
        if self.pruned.get(team) == today:
            return ""
        self.pruned[team] = today
        keep = date.fromisoformat(today) - timedelta(days=self.card_config(team).window_days)
        return keep.isoformat()

    async def today(self, team: str) -> str:
        """The team's local date now (the scripts' clock)."""
        now_ms = await self.arbiter.now_ms()
        return datetime.fromtimestamp(now_ms / 1000, self.zone(team)).date().isoformat()

    async def cards(self, team: str, reps: list[str] | None = None) -> list[Card]:
        """Fresh scorecards of `reps` (default: every rep of the team), in roster order."""
        await self.refresh(team)
        reps = self.arbiter.team_reps(team) if reps is None else reps
        card = self.card_config(team)
        days = window_days(await self.today(team), card.window_days)
        counters = await self.arbiter.store.tally_days(team, reps)
        return [self._card(team, rep, card, days, counters[rep]) for rep in reps]

    def _card(self, team: str, rep: str, card: ScorecardConfig, days: list[str],
              fields: dict[str, str]) -> Card:
        member = self.arbiter.member(rep)
        summed = totals(fields, days)
        points = penalty_points(member.limits if member else {}, summed.upheld)
        return Card(rep, team, (member.tier or None) if member else None, days[0], days[-1],
                    len(days), figures(summed, card, points), terms(summed, card, points))

    async def publish(self, team: str) -> list[Card]:
        """Recompute the team's scores and leave them where the draw scripts read them."""
        found = await self.cards(team)
        await self.arbiter.store.write_scores(team, {c.rep: c.score for c in found})
        self._gauges(team, found)
        return found

    def _gauges(self, team: str, found: list[Card]) -> None:
        """Score gauges for the reps that have per-rep series (the label cap holds)."""
        if self.metrics is None:
            return
        labelled = self.metrics.reps.teams
        for card in found:
            if labelled.get(card.rep) == team:
                self.metrics.rep_score.labels(team, card.rep).set(card.score)
                for term in card.terms:
                    self.metrics.rep_score_term.labels(team, card.rep, term.component).set(
                        term.contribution)

    def scored_teams(self) -> list[str]:
        """Teams with a `[scorecard]` table: their scores are kept up in the background."""
        return [t for t in self.arbiter.config.teams if self.arbiter.team(t).scorecard]

    async def run(self, tick: Tick | None = None) -> None:
        """Every `refresh_s`, publish each scored team's scores and run `tick(team, cards)`
        (the tier schedule) until stopped."""
        while not stop_requested():
            pause = 60.0
            for team in self.scored_teams():
                pause = min(pause, self.card_config(team).refresh_s)
                try:
                    found = await self.publish(team)
                    if tick is not None:
                        await tick(team, found)
                except StoreError as exc:
                    log.warning("scorecard refresh of %s failed: %s", team, exc)
            await asyncio.sleep(pause)
