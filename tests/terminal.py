"""A `leadgrab` child process on a pseudo-terminal: type lines, wait for what it prints."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import signal
import sys
import termios
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.conftest import ROOT

MAIN = "from leadgrab.cli import main; raise SystemExit(main())"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """The terminal side of a pty: everything the child wrote, and a keyboard."""

    def __init__(self, master: int, proc: asyncio.subprocess.Process) -> None:
        self.master, self.proc = master, proc
        self._chunks: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, name="pty-reader", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:  # the child closed its side
                return
            if not data:
                return
            with self._lock:
                self._chunks.append(data.decode(errors="replace"))

    @property
    def text(self) -> str:
        with self._lock:
            return ANSI.sub("", "".join(self._chunks)).replace("\r\n", "\n")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    async def expect(self, pattern: str, timeout_s: float = 10.0, after: int = 0) -> re.Match[str]:
        """The first match of the regex `pattern` in the output from offset `after`."""
        try:
            async with asyncio.timeout(timeout_s):
                while (found := re.compile(pattern).search(self.text, after)) is None:
                    if self.proc.returncode is not None:
                        raise AssertionError(f"exited {self.proc.returncode} before "
                                             f"{pattern!r}:\n{self.text}")
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"no {pattern!r} after offset {after} within {timeout_s} s; "
                                 f"the terminal shows:\n{self.text}") from None
        return found

    async def said(self, pattern: str, timeout_s: float = 10.0) -> str:
        """Wait for a line matching `pattern` that appeared after everything seen so far."""
        found = await self.expect(pattern, timeout_s, self._mark)
        self._mark = found.end()
        return self.text[self.text.rfind("\n", 0, found.start()) + 1:
                         self.text.find("\n", found.end())]

    _mark = 0


@asynccontextmanager
async def on_pty(*argv: str) -> AsyncIterator[Terminal]:
    """`leadgrab argv...` with its stdin, stdout and stderr on a fresh pty (echo off)."""
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", MAIN, *argv, cwd=ROOT, stdin=slave, stdout=slave, stderr=slave,
        start_new_session=True)
    os.close(slave)
    term = Terminal(master, proc)
    try:
        yield term
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        os.close(master)
