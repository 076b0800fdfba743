"""The app's background loops (stream tails, timers, reload polling, fairness scoring):
how each one knows it has been told to stop."""

from __future__ import annotations

import asyncio


def stop_requested() -> bool:
    """True once the running task has been cancelled, even if a Redis call inside it
    swallowed the CancelledError: Python 3.11's `wait_for` (used by redis-py) can return a
    result that completed in the same tick as the cancel (gh-86296). A loop that went on
    after that would outlive its app and keep firing timers with stale rules, so every
    background loop checks this at each turn instead of trusting the cancel alone."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
