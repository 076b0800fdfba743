"""The app's background loops (stream tails, timers, reload polling, fairness scoring):
how each one knows it has been told to stop."""

from __future__ import annotations

import asyncio
from typing import Any


def stop_requested() -> bool:
    """True once the running task has been cancelled, even if a Redis call inside it
    swallowed the CancelledError: Python 3.11's `wait_for` (used by redis-py) can return a
    result that completed in the same tick as the cancel (gh-86296). A loop that went on
    after that would outlive its app and keep firing timers with stale rules, so every
    background loop checks this at each turn instead of trusting the cancel alone."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def awaiting(task: asyncio.Task[None]) -> str:
    """Where a task is suspended: its chain of awaits, outermost first (for a stuck task)."""
    lines: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            code = frame.f_code
            lines.append(f"  {code.co_filename}:{frame.f_lineno} {code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return "\n".join(lines)
