"""Phase progress on stderr: a live bar on a terminal, a plain line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any, TextIO

from tqdm import tqdm

LINE_EVERY_S = 5.0


class Lines:
    """Progress for a file or a pipe: no carriage returns, one line every LINE_EVERY_S and one
    when the phase ends (a bar redrawn four times a second wrote >100 KB into one log)."""

    def __init__(self, label: str, total: float, unit: str, out: TextIO) -> None:
        self.label, self.total, self.unit, self.out = label, total, unit, out
        self.n: float = 0
        self.postfix = ""
        self.last = time.monotonic()

    def __enter__(self) -> Lines:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._line()

    def set_postfix(self, **fields: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in fields.items())
        self.refresh()

    def refresh(self) -> None:
        if time.monotonic() - self.last >= LINE_EVERY_S:
            self._line()

    def _line(self) -> None:
        self.last = time.monotonic()
        extra = f" [{self.postfix}]" if self.postfix else ""
        print(f"{self.label}: {self.n:g}/{self.total:g} {self.unit}{extra}", file=self.out,
              flush=True)


def bar(label: str, total: float, unit: str, quiet: bool) -> tqdm[Any] | Lines:
    """A tqdm bar when stderr is a terminal; plain lines when it is not; nothing if quiet."""
    if quiet or sys.stderr.isatty():
        return tqdm(total=total, unit=unit, desc=label, disable=quiet, leave=False,
                    dynamic_ncols=True, mininterval=0.25)
    return Lines(label, total, unit, sys.stderr)
