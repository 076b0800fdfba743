"""Window-mode claims: a `pending` answer is provisional until the final `claim_result` comes."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from loadtest.histogram import Latency

FINAL_GRACE_S = 5.0  # how long past the window's close a final answer may take before it is missing


@dataclass
class WindowTally:
    """What window-mode claims measured: time to `pending`, to the final answer, and beyond."""

    # added = final - retry_after_ms of the `pending` (the window time left when the claim came);
    # for the claim that opened the window retry_after_ms is window_ms, so that is opener_added.

    pending: Latency = field(default_factory=Latency)
    final: Latency = field(default_factory=Latency)
    added: Latency = field(default_factory=Latency)
    opener_added: Latency = field(default_factory=Latency)
    held: int = 0
    finals: int = 0
    missing: int = 0
    early: int = 0

    def add(self, other: WindowTally) -> None:
        """Merge another worker's window figures into these."""
        for mine, theirs in ((self.pending, other.pending), (self.final, other.final),
                             (self.added, other.added), (self.opener_added, other.opener_added)):
            mine.add(theirs)
        self.held += other.held
        self.finals += other.finals
        self.missing += other.missing
        self.early += other.early

    def summary(self) -> dict[str, Any]:
        """The JSON section: counts and the four latency summaries (ms)."""
        return {"pending_answers": self.held, "final_answers": self.finals,
                "final_missing": self.missing, "final_before_close": self.early,
                "pending_ms": self.pending.summary(), "final_ms": self.final.summary(),
                "added_ms": self.added.summary(), "opener_added_ms": self.opener_added.summary(),
                "pending_curve_ms": self.pending.curve(), "final_curve_ms": self.final.curve(),
                "added_curve_ms": self.added.curve()}


@dataclass
class _Waiting:
    sent: float
    retry_after_ms: int
    opener: bool
    timer: asyncio.TimerHandle


class Provisional:
    """One client's claims answered `pending`; each waits, bounded, for its final answer."""

    def __init__(self, tally: WindowTally, errors: Counter[str]) -> None:
        self.tally, self.errors = tally, errors
        self.waiting: dict[str, _Waiting] = {}

    def __len__(self) -> int:
        return len(self.waiting)

    def hold(self, req_id: str, sent: float, now: float, frame: dict[str, Any],
             window_ms: int | None, recording: bool) -> None:
        """A `pending` answer: time it; wait for the final one until the close + FINAL_GRACE_S."""
        retry_after_ms = int(frame.get("retry_after_ms") or 0)
        self.tally.held += 1
        if recording:
            self.tally.pending.record_us((now - sent) * 1e6)
        timer = asyncio.get_running_loop().call_later(
            retry_after_ms / 1000 + FINAL_GRACE_S, self._expire, req_id)
        self.waiting[req_id] = _Waiting(sent, retry_after_ms, retry_after_ms == window_ms, timer)

    def settle(self, req_id: str, now: float, recording: bool) -> bool:
        """A final answer to a `pending` claim: time it; False if no such claim is waiting."""
        waiting = self.waiting.pop(req_id, None)
        if waiting is None:
            return False
        waiting.timer.cancel()
        self.tally.finals += 1
        if recording:
            self._record(waiting, (now - waiting.sent) * 1e6)
        return True

    def _record(self, waiting: _Waiting, final_us: float) -> None:
        added_us = final_us - waiting.retry_after_ms * 1000
        self.tally.early += added_us < 0
        self.tally.final.record_us(final_us)
        self.tally.added.record_us(max(added_us, 0))
        if waiting.opener:
            self.tally.opener_added.record_us(max(added_us, 0))

    def _expire(self, req_id: str) -> None:
        if self.waiting.pop(req_id, None) is not None:
            self.tally.missing += 1
            self.errors["window:no_final_answer"] += 1

    def abandon(self) -> int:
        """At the end of a run: every claim still waiting is missing its final answer."""
        left = len(self.waiting)
        for waiting in self.waiting.values():
            waiting.timer.cancel()
        self.waiting.clear()
        self.tally.missing += left
        if left:
            self.errors["window:no_final_answer"] += left
        return left
