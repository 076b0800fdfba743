"""Fires due timers kept in Redis, from whichever process gets there first.

Timers: window settlements, follow-up deadlines and their warnings, release-stage and
owner-window offers, and fallback assignments.

Each timer's script checks and removes it atomically, so with several processes a timer fires
exactly once, and with none running, overdue timers fire when one starts. The process that
opened a window also schedules a local call at its end, so settlement adds no polling delay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from server.background import stop_requested
from server.contracts.statuses import Status
from server.contracts.timer_members import TimerKind, TimerMember, TimerMemberError, parse
from server.floor.arbiter import Arbiter
from server.floor.complaints import Complaints
from server.metrics import Metrics
from server.store.store import StoreError

log = logging.getLogger(__name__)
POLL_S = 0.2
EARLY_RETRIES = 20
OnSettled = Callable[[str, str, Mapping[str, Mapping[str, Any]]], None]


class Timers:
    """Polls each team's timer set and runs what is due; keeps precise local schedules too."""

    def __init__(self, arbiter: Arbiter, teams: list[str], metrics: Metrics | None = None,
                 on_settled: OnSettled | None = None) -> None:
        self.arbiter, self.teams, self.metrics = arbiter, teams, metrics
        self.on_settled = on_settled
        self.scheduled: set[tuple[str, str]] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    def schedule(self, team: str, lead_id: str, delay_ms: int) -> None:
        """Settle a window when it closes (once per lead per process)."""
        if (team, lead_id) in self.scheduled:
            return
        self.scheduled.add((team, lead_id))
        loop = asyncio.get_running_loop()
        loop.call_later(max(delay_ms, 0) / 1000, self._spawn, team, lead_id)

    def _spawn(self, team: str, lead_id: str, attempt: int = 0) -> None:
        task = asyncio.get_running_loop().create_task(self.fire(team, lead_id, attempt))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def fire(self, team: str, lead_id: str, attempt: int = 0) -> None:
        """Settle one window; hand its results to local connections at once (the events
        stream carries them to the other processes). A Redis fault leaves the timer for the
        next poll; a call a moment early tries again a millisecond later."""
        self.scheduled.discard((team, lead_id))
        try:
            done = await self.arbiter.settle(team, lead_id)
        except StoreError as exc:
            log.warning("settling %s/%s failed, will retry: %s", team, lead_id, exc)
            return
        if done.status is Status.EARLY and attempt < EARLY_RETRIES:
            asyncio.get_running_loop().call_later(0.001, self._spawn, team, lead_id, attempt + 1)
        elif done.status is Status.SETTLED and self.on_settled is not None:
            self.on_settled(team, lead_id, done.results)

    async def run(self) -> None:
        """Fire whatever is due, until stopped."""
        while not stop_requested():
            await asyncio.sleep(POLL_S)
            try:
                await self.fire_due()
            except StoreError as exc:
                log.warning("timer poll failed: %s", exc)

    async def fire_due(self) -> None:
        """Run every due timer of every team; each script checks it is still due and its own."""
        for team in self.teams:
            for member in await self.arbiter.due_timers(team):
                await self.fire_member(team, member)

    async def fire_member(self, team: str, member: str) -> None:
        """Run one due timer by its kind; a member outside the grammar is logged and left."""
        try:
            timer = parse(member)
        except TimerMemberError:
            log.error("unknown timer %r in team %s", member, team)
            return
        try:
            await self._fire_timer(team, timer)
        except StoreError as exc:
            log.warning("timer %s of %s failed, will retry: %s", member, team, exc)

    async def _fire_timer(self, team: str, timer: TimerMember) -> None:
        if timer.kind is TimerKind.SETTLE:
            await self.fire(team, timer.lead_id)
        elif timer.kind in (TimerKind.WARN, TimerKind.DEADLINE):
            done = await self.arbiter.fire_deadline(team, timer)
            if done.status is Status.RECYCLED and self.metrics is not None:
                self.metrics.reps.followup_missed(done.detail)
        elif timer.kind in (TimerKind.STAGE, TimerKind.OPEN):
            await self.arbiter.offer(team, timer)
        elif timer.kind is TimerKind.RESUME:  # the lead id field holds the rep's
            await Complaints(self.arbiter).lift_pause(team, timer.lead_id)
        else:
            await self.arbiter.auto_assign(team, timer)
