"""The test clock: the scripts' "now" when set, instead of Redis TIME."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ManualClock:
    """A clock the scripts use instead of Redis TIME when `now_ms` is set; the store calls it
    (a `NowOverride`) for every script."""

    now_ms: int | None = None

    def __call__(self) -> int | None:
        return self.now_ms

    def advance(self, ms: int) -> None:
        """Move the clock forward."""
        assert self.now_ms is not None, "set now_ms before advancing"
        self.now_ms += ms
