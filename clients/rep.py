"""The rep terminal: live leads, claimed on Enter, by id, or automatically as they arrive."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from clients.client import LeadGrabClient, SessionClosed
from server.protocol import Frame

Lines = asyncio.Queue[str | None]


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _lead(f: Frame) -> str:
    skills = ",".join(str(s) for s in f.get("skills") or []) or "-"
    return (f"lead {f['lead_id']}  value={_number(f.get('value'))}  region={f.get('region') or '-'}"
            f"  skills={skills}  priority={f.get('priority')}")


def _welcome(f: Frame) -> str:
    q = f.get("quota") or {}
    return (f"connected as {f.get('rep')} (team {f.get('team')}): {q.get('open')}/"
            f"{q.get('max_open')} open, {q.get('today')}/{q.get('max_daily')} claimed today")


def _action(f: Frame) -> str:
    outcome = "ok" if f.get("ok") else f"refused ({f.get('reason')})"
    return f"{f.get('action')} {f.get('lead_id')}: {outcome}"


_LINES: dict[str, Callable[[Frame], str]] = {
    "welcome": _welcome,
    "lead": _lead,
    "lead_taken": lambda f: f"taken {f.get('lead_id')}",
    "claim_result": lambda f: describe_claim(f),
    "action_result": _action,
    "error": lambda f: f"error {f.get('code')}: {f.get('message')}",
    "gap": lambda f: "gap: some missed frames were trimmed; leads shown may be stale",
    "resumed": lambda f: f"resumed: {f.get('count')} missed frame(s) replayed",
}


def describe(frame: Frame) -> str | None:
    """One human line for a server frame; None for frames a rep need not see."""
    line = _LINES.get(frame["type"])
    return line(frame) if line else None


def describe_claim(frame: Frame) -> str:
    """A claim_result as `claim L1: won`, or with reason and retry time when rejected."""
    line = f"claim {frame.get('lead_id')}: {frame.get('result')}"
    if "reason" in frame:
        line += f" ({frame['reason']})"
    if "retry_after_ms" in frame:
        line += f", retry in {frame['retry_after_ms']} ms"
    return line


class RepSession:
    """Shows a rep's frames and turns keypresses (or every lead) into claims."""

    def __init__(self, client: LeadGrabClient, *, auto_claim: bool = False,
                 out: TextIO | None = None) -> None:
        self.client, self.auto_claim, self.out = client, auto_claim, out or sys.stdout
        self.open: dict[str, Frame] = {}  # still-open leads, oldest first
        self._tasks: set[asyncio.Task[None]] = set()

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    async def run(self, lines: Lines | None = None) -> None:
        """Until the session ends: show frames and claim from `lines` (None: no keyboard)."""
        keys = asyncio.create_task(self._keys(lines)) if lines is not None else None
        try:
            async for frame in self.client.frames():
                self.on_frame(frame)
        finally:
            for task in [*self._tasks, *([keys] if keys else [])]:
                task.cancel()
            await asyncio.gather(*self._tasks, *([keys] if keys else []),
                                 return_exceptions=True)

    def on_frame(self, frame: Frame) -> None:
        kind = frame["type"]
        if kind == "lead":
            lead_id = str(frame["lead_id"])
            self.open.pop(lead_id, None)
            self.open[lead_id] = frame
        elif kind == "lead_taken":
            self.open.pop(str(frame["lead_id"]), None)
        if kind != "claim_result" and (line := describe(frame)):
            self.say(line)  # claim results are shown by the claim that asked
        if kind == "lead" and self.auto_claim:
            self.claim(str(frame["lead_id"]))

    def on_key(self, line: str) -> None:
        """Enter claims the newest open lead; a typed id claims that lead."""
        lead_id = line.strip() or next(reversed(self.open), "")
        if not lead_id:
            self.say("no open lead to claim")
            return
        self.claim(lead_id)

    def claim(self, lead_id: str) -> None:
        task = asyncio.create_task(self._claim(lead_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _claim(self, lead_id: str) -> None:
        try:
            result = await self.client.claim(lead_id)
        except (SessionClosed, ConnectionError):
            return  # the frame loop reports why the session ended
        self.say(describe_claim(result))

    async def _keys(self, lines: Lines) -> None:
        while (line := await lines.get()) is not None:
            self.on_key(line)


def stdin_lines() -> Lines:
    """Lines typed on stdin, read by a daemon thread so Ctrl-C never waits for Enter."""
    loop = asyncio.get_running_loop()
    lines: Lines = asyncio.Queue()

    def read() -> None:
        with contextlib.suppress(RuntimeError):  # the loop may be closed when we exit
            for line in sys.stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, name="leadgrab-stdin", daemon=True).start()
    return lines
