"""Each team's fairness over the last 1 h and 24 h, read from its audit stream into gauges."""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from dataclasses import dataclass

from server.background import stop_requested
from server.floor import audit_log
from server.floor.arbiter import Arbiter
from server.floor.fairness import Contests, Counts, Entry, Fairness, count_entry, figures
from server.metrics import Metrics
from server.store.store import StoreError

log = logging.getLogger(__name__)
WINDOWS_MS = {"1h": 3_600_000, "24h": 86_400_000}
MINUTE_MS = 60_000
REFRESH_S = 15.0
READ_CHUNK = 200  # entries per read: ~1 ms of parsing and counting between other work


@dataclass(frozen=True, slots=True)
class Report:
    """One team's figures over one window, and what they were computed from."""

    team: str
    window: str
    since_ms: int
    until_ms: int
    scanned: int
    truncated: bool
    eligible: frozenset[str]
    figures: Fairness


class TeamTally:
    """A team's audit entries, each counted once into per-minute counts, with a running sum
    per window: a refresh reads only what is new, and a window slides by taking its oldest
    minutes away, so no entry is kept and no window is recounted."""

    def __init__(self) -> None:
        self.minutes: deque[tuple[int, Counts]] = deque()  # oldest first, one per minute
        self.windows = {window: Counts() for window in WINDOWS_MS}
        self.first_minute = dict.fromkeys(WINDOWS_MS, 0)  # the oldest minute each sum holds
        self.contests = Contests()
        self.last: str | None = None
        self.lock = asyncio.Lock()
        self.cut_ms: int | None = None  # entries before this were trimmed before being read
        self.pending: dict[int, Counts] = {}  # minute -> counted since the last slide

    def ingest(self, rows: list[Entry]) -> None:
        """Count entries newer than any before, in stream order, each once into its minute's
        counts of this refresh; `slide` adds those to the minutes and windows (so a refresh of
        many chunks merges a minute's reps into them once, not once per chunk)."""
        read = self.pending
        contests = self.contests
        for entry in rows:
            minute = int(entry[0].partition("-")[0]) // MINUTE_MS
            counts = read.get(minute)
            if counts is None:
                counts = read[minute] = Counts()
            count_entry(entry, contests, counts)
        if rows:
            self.last = rows[-1][0]

    def _add_minute(self, minute: int, counts: Counts) -> None:
        """Add one minute's new counts to that minute and to every window that holds it."""
        if not self.minutes or self.minutes[-1][0] < minute:
            self.minutes.append((minute, Counts()))
        self.minutes[-1][1].add(counts)
        for window in WINDOWS_MS:
            if minute >= self.first_minute[window]:
                self.windows[window].add(counts)

    def slide(self, now_ms: int) -> None:
        """Add what was counted since the last slide, then move each window to end at
        `now_ms`, dropping minutes no window holds any more."""
        for minute, counts in self.pending.items():
            self._add_minute(minute, counts)
        self.pending.clear()
        for window in WINDOWS_MS:
            start = self.start_ms(window, now_ms) // MINUTE_MS
            for minute, counts in self.minutes:
                if minute >= start:
                    break
                if minute >= self.first_minute[window]:
                    self.windows[window].add(counts, -1)
            self.first_minute[window] = max(start, self.first_minute[window])
        oldest = min(self.first_minute.values())
        while self.minutes and self.minutes[0][0] < oldest:
            self.minutes.popleft()

    @staticmethod
    def start_ms(window: str, now_ms: int) -> int:
        """Where a window ending now starts: its span back from now, down to the minute."""
        return (now_ms - WINDOWS_MS[window]) // MINUTE_MS * MINUTE_MS

    def truncated(self, start_ms: int) -> bool:
        """Whether entries since `start_ms` were trimmed from the stream before being counted."""
        return self.cut_ms is not None and self.cut_ms > start_ms


class Scoreboard:
    """Keeps every team's log fresh and its fairness gauges current (each process on its own)."""

    def __init__(self, arbiter: Arbiter, metrics: Metrics) -> None:
        self.arbiter, self.metrics = arbiter, metrics
        self.tallies: dict[str, TeamTally] = {}

    async def refresh(self, team: str) -> int:
        """Count the team's new audit entries, a chunk at a time so that claims are not held
        up behind a long read; returns Redis time then (ms)."""
        now = await self.arbiter.redis_time_ms()  # audit ids are Redis time, whatever the clock
        tally = self.tallies.setdefault(team, TeamTally())
        async with tally.lock:
            if tally.last is None:
                tally.last = await self._backfill(team, tally, TeamTally.start_ms("24h", now))
            while True:
                rows = await audit_log.after(self.arbiter, team, tally.last, READ_CHUNK)
                tally.ingest(rows)
                if len(rows) < READ_CHUNK or stop_requested():
                    break
                await asyncio.sleep(0)
            tally.slide(now)
        return now

    async def _backfill(self, team: str, tally: TeamTally, start_ms: int) -> str:
        """On a process's first look, count from the 24 h window's start (returns the entry
        id to read after); if the stream is at its length cap, what came before its oldest
        entry was trimmed away."""
        tally.cut_ms = await self.arbiter.audit_cut_ms(team)
        return f"{start_ms - 1}-{2**64 - 1}"

    async def report(self, team: str, window: str) -> Report:
        """Fresh figures for one team over one window ('1h' or '24h')."""
        now = await self.refresh(team)
        tally = self.tallies[team]
        start = TeamTally.start_ms(window, now)
        eligible = frozenset(self.eligible(team))
        counts = tally.windows[window]
        return Report(team, window, start, now, counts.entries, tally.truncated(start),
                      eligible, figures(counts, eligible))

    def eligible(self, team: str) -> list[str]:
        """The team's active reps on the roster in force."""
        members = self.arbiter.roster.members.values()
        return [m.id for m in members if m.team == team and m.active]

    async def publish(self, team: str) -> None:
        """Set the team's gauges (and its reps' open leads) from fresh figures."""
        for window in WINDOWS_MS:
            report = await self.report(team, window)
            self._set_team(report)
        self.metrics.fairness_scan.labels(team).set(self.tallies[team].windows["24h"].entries)
        await self._set_open_leads(team)
        await self.publish_pool(team)

    async def publish_pool(self, team: str) -> None:
        """Set the team's pool gauges from its open-lead index."""
        now_ms = await self.arbiter.now_ms()  # the scripts' clock scores the index
        stale_ms = self.arbiter.config.server.pool_stale_after_s * 1000
        pool = await self.arbiter.store.pool_health(team, now_ms, stale_ms)
        self.metrics.pool_open.labels(team).set(pool.open)
        age_ms = now_ms - pool.oldest_ms if pool.oldest_ms is not None else 0
        self.metrics.pool_oldest_age.labels(team).set(max(age_ms, 0) / 1000)
        self.metrics.pool_stale.labels(team).set(pool.stale)

    def _set_team(self, report: Report) -> None:
        t, labels = report.figures.team, (report.team, report.window)
        m = self.metrics
        m.team_jain.labels(*labels).set(_gauge(t.jain))
        m.team_gini.labels(*labels).set(_gauge(t.gini))
        m.team_top10.labels(*labels).set(_gauge(t.top10_share))
        m.team_speed.labels(*labels).set(_gauge(t.speed_decided_share))
        m.team_contests.labels(*labels).set(t.contests)
        m.team_wins.labels(*labels).set(t.wins)

    async def _set_open_leads(self, team: str) -> None:
        reps = [rep for rep, t in self.metrics.reps.teams.items() if t == team]
        counts = await self.arbiter.held_counts(team, reps)
        for rep, count in zip(reps, counts, strict=True):
            self.metrics.rep_open.labels(team, rep).set(count)

    def follow_roster(self) -> None:
        """Give per-rep series to the roster's reps (none when it is over the bound)."""
        members = self.arbiter.roster.members.values()
        self.metrics.reps.set_roster({m.id: m.team for m in members})

    async def run(self) -> None:
        """Refresh every team's gauges every REFRESH_S until stopped."""
        while not stop_requested():
            self.follow_roster()
            for team in self.arbiter.config.teams:
                try:
                    await self.publish(team)
                except StoreError as exc:
                    log.warning("fairness refresh of %s failed: %s", team, exc)
                if stop_requested():
                    return
            await asyncio.sleep(REFRESH_S)


def _gauge(value: float | None) -> float:
    """None (undefined: no wins or no contests) is exported as NaN."""
    return math.nan if value is None else value

