"""Each team's fairness over the last 1 h and 24 h, read from its audit stream into gauges."""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from server import audit_log, keys
from server.arbiter import Arbiter
from server.background import stop_requested
from server.fairness import Entry, Fairness, entry_ms, fairness, since
from server.metrics import Metrics
from server.store import StoreError

log = logging.getLogger(__name__)
WINDOWS_MS = {"1h": 3_600_000, "24h": 86_400_000}
REFRESH_S = 15.0
BUSY_FACTOR = 20  # sleep at least 20x the time a refresh took
MAX_ENTRIES = 200_000  # per team: a busier day is judged on its newest 200k audit entries


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


SCORED_FIELDS = ("action", "lead", "rep", "result", "reason", "note", "ts")


def _scored(fields: Mapping[str, str]) -> dict[str, str]:
    """Only what scoring reads: keeps the retained window's memory small."""
    return {k: fields[k] for k in SCORED_FIELDS if k in fields}


class TeamLog:
    """A team's audit entries of the last 24 h (the newest MAX_ENTRIES), read incrementally."""

    def __init__(self, max_entries: int) -> None:
        self.entries: deque[Entry] = deque(maxlen=max_entries)
        self.last: str | None = None
        self.lock = asyncio.Lock()
        self.cut_ms: int | None = None  # entries up to here may have been left out (the bound)

    def extend(self, rows: list[Entry], start_ms: int) -> None:
        """Append new entries, then drop those older than `start_ms`."""
        cap = self.entries.maxlen or 0
        cut = len(rows) >= cap or len(self.entries) + len(rows) > cap
        self.entries.extend((entry_id, _scored(fields)) for entry_id, fields in rows)
        if rows:
            self.last = rows[-1][0]
        if cut and self.entries:
            self.cut_ms = entry_ms(self.entries[0])
        while self.entries and entry_ms(self.entries[0]) < start_ms:
            self.entries.popleft()

    def truncated(self, start_ms: int) -> bool:
        """Whether entries since `start_ms` were left out to keep within the bound."""
        return self.cut_ms is not None and self.cut_ms >= start_ms


class Scoreboard:
    """Keeps every team's log fresh and its fairness gauges current (each process on its own)."""

    def __init__(self, arbiter: Arbiter, metrics: Metrics, max_entries: int = MAX_ENTRIES) -> None:
        self.arbiter, self.metrics = arbiter, metrics
        self.max_entries = max_entries
        self.logs: dict[str, TeamLog] = {}

    async def now_ms(self) -> int:
        """Redis time: audit ids are Redis time even when a test clock drives the scripts."""
        seconds, micros = await self.arbiter.store.call(self.arbiter.store.redis.time())
        return int(seconds) * 1000 + int(micros) // 1000

    async def refresh(self, team: str) -> int:
        """Read the team's new audit entries; returns Redis time then (ms)."""
        now = await self.now_ms()
        start = now - WINDOWS_MS["24h"]
        team_log = self.logs.setdefault(team, TeamLog(self.max_entries))
        async with team_log.lock:
            lower = "(" + team_log.last if team_log.last else str(start)
            rows = await audit_log.newest(self.arbiter.store, team, lower, self.max_entries)
            team_log.extend(rows, start)
        return now

    async def report(self, team: str, window: str) -> Report:
        """Fresh figures for one team over one window ('1h' or '24h')."""
        now = await self.refresh(team)
        team_log = self.logs[team]
        start = now - WINDOWS_MS[window]
        eligible = frozenset(self.eligible(team))
        # scoring up to MAX_ENTRIES entries takes long enough to stall claims: off the loop
        count, figures = await asyncio.to_thread(_score, list(team_log.entries), start,
                                                 eligible)
        return Report(team, window, start, now, count, team_log.truncated(start),
                      eligible, figures)

    def eligible(self, team: str) -> list[str]:
        """The team's active reps on the roster in force."""
        members = self.arbiter.roster.members.values()
        return [m.id for m in members if m.team == team and m.active]

    async def publish(self, team: str) -> None:
        """Set the team's gauges (and its reps' open leads) from fresh figures."""
        for window in WINDOWS_MS:
            report = await self.report(team, window)
            self._set_team(report)
        self.metrics.fairness_scan.labels(team).set(len(self.logs[team].entries))
        await self._set_open_leads(team)

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
        store = self.arbiter.store
        async with store.redis.pipeline(transaction=False) as pipe:
            for rep in reps:
                pipe.scard(keys.held(team, rep))
            counts = await store.call(pipe.execute())
        for rep, count in zip(reps, counts, strict=True):
            self.metrics.rep_open.labels(team, rep).set(count)

    def follow_roster(self) -> None:
        """Give per-rep series to the roster's reps (none when it is over the bound)."""
        members = self.arbiter.roster.members.values()
        self.metrics.reps.set_roster({m.id: m.team for m in members})

    async def run(self) -> None:
        """Refresh every team's gauges every REFRESH_S, forever; under heavy claim traffic
        (a long audit to score) it waits longer, so scoring takes at most ~5 % of a core."""
        loop = asyncio.get_running_loop()
        while not stop_requested():
            started = loop.time()
            self.follow_roster()
            for team in self.arbiter.config.teams:
                try:
                    await self.publish(team)
                except StoreError as exc:
                    log.warning("fairness refresh of %s failed: %s", team, exc)
                if stop_requested():
                    return
            await asyncio.sleep(max(REFRESH_S, BUSY_FACTOR * (loop.time() - started)))


def _gauge(value: float | None) -> float:
    """None (undefined: no wins or no contests) is exported as NaN."""
    return math.nan if value is None else value


def _score(entries: list[Entry], start_ms: int, eligible: frozenset[str]) -> tuple[int, Fairness]:
    """How many entries fall in the window, and their fairness figures (runs in a thread)."""
    recent = since(entries, start_ms)
    return len(recent), fairness(recent, eligible)
