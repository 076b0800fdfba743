"""The rep terminal: every frame in words, and commands to claim, follow up, close and pause."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TextIO

from clients import wording
from clients.client import LeadGrabClient, SessionClosed, Unavailable
from clients.wording import Clock
from server.protocol import Frame

Lines = asyncio.Queue[str | None]
UNAVAILABLE_RETRY_S = 2.0  # auto-claim: wait before resending a claim the server could not decide
HELP = """commands (Enter alone claims the top lead of `pool`):
  claim [ID]          claim a lead (default: the top one); a bare ID claims it too
  pool                the open offers this session knows, newest (top) first
  mine                the leads you hold, with their deadlines as far as known
  followup ID [NOTE]  record progress on a held lead (meets its follow-up deadline)
  close ID won|lost   record the sales outcome and free the slot
  release ID          give a held lead back to the pool
  pause / resume      go out of office (no offers) / come back
  help                this list; Ctrl-C quits"""

describe = wording.describe
describe_claim = wording.claim


@dataclass
class Held:
    """A lead this rep holds, and its next deadline when the session has learnt it."""

    since_ms: int
    deadline_ms: int | None = None
    kind: str = ""


class RepSession:
    """Shows a rep's frames in words and turns typed commands (or every offer) into requests."""

    def __init__(self, client: LeadGrabClient, *, auto_claim: bool = False,
                 out: TextIO | None = None) -> None:
        self.client, self.auto_claim, self.out = client, auto_claim, out or sys.stdout
        self.clock = Clock()
        self.open: dict[str, Frame] = {}  # open offers, oldest first
        self.held: dict[str, Held] = {}
        self._asked: set[str] = set()  # req_ids of claims made here (their task prints them)
        self._unanswered: dict[str, str] = {}  # lead_id -> req_id the server could not decide
        self._retries: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._lost = False
        self._commands: dict[str, Callable[[list[str]], None]] = {
            "claim": self._cmd_claim, "pool": self._cmd_pool, "mine": self._cmd_mine,
            "followup": self._cmd_followup, "close": self._cmd_close,
            "release": self._cmd_release, "pause": self._cmd_pause, "resume": self._cmd_pause,
            "help": lambda _: self.say(HELP),
        }

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    async def run(self, lines: Lines | None = None) -> None:
        """Until the session ends: show frames and run commands from `lines` (None: none)."""
        keys = asyncio.create_task(self._keys(lines)) if lines is not None else None
        try:
            async for frame in self.client.frames():
                self.on_frame(frame)
        finally:
            for handle in self._retries.values():
                handle.cancel()
            pending = [*self._tasks, *([keys] if keys else [])]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def on_status(self, state: str, detail: str) -> None:
        """The client's connection changed state (reported once per change)."""
        if state == "lost":
            self._lost = True
            self.say(f"connection lost ({detail}); reconnecting to {self.client.url} ...")
        elif self._lost:
            self._lost = False
            self.say(f"reconnected to {detail}")

    # ------------------------------------------------------------------------ frames

    def on_frame(self, frame: Frame) -> None:
        kind = frame["type"]
        track = getattr(self, f"_track_{kind}", None)
        if track is not None:
            track(frame)
        if kind == "action_result" or (kind == "error" and frame.get("req_id") in self._asked):
            return  # shown by the command or claim that asked
        if kind == "claim_result" and frame.get("req_id") in self._asked \
                and frame.get("result") != "pending":
            self._asked.discard(str(frame["req_id"]))
            return  # shown by the claim that asked
        self.say(describe(frame, self.clock))
        if kind == "lead" and self.auto_claim:
            self.claim(str(frame["lead_id"]))

    def _track_welcome(self, frame: Frame) -> None:
        self.clock.sync(int(frame.get("server_time_ms") or self.clock.now_ms()))
        for item in frame.get("held") or []:
            lead_id = item if isinstance(item, str) else str(dict(item).get("lead_id", ""))
            if lead_id:
                self.held.setdefault(lead_id, Held(self.clock.now_ms()))

    def _track_lead(self, frame: Frame) -> None:
        lead_id = str(frame["lead_id"])
        self.open.pop(lead_id, None)
        self.open[lead_id] = frame

    def _track_lead_taken(self, frame: Frame) -> None:
        lead_id = str(frame["lead_id"])
        self.open.pop(lead_id, None)
        if (handle := self._retries.pop(lead_id, None)) is not None:
            handle.cancel()

    def _track_assigned(self, frame: Frame) -> None:
        self.open.pop(str(frame["lead_id"]), None)
        self.held[str(frame["lead_id"])] = Held(self.clock.now_ms())

    def _track_revoked(self, frame: Frame) -> None:
        self.held.pop(str(frame["lead_id"]), None)

    def _track_warning(self, frame: Frame) -> None:
        held = self.held.setdefault(str(frame["lead_id"]), Held(self.clock.now_ms()))
        held.deadline_ms, held.kind = frame.get("deadline_ms"), str(frame.get("kind") or "")

    def _track_claim_result(self, frame: Frame) -> None:
        if frame.get("result") == "won":
            self.open.pop(str(frame["lead_id"]), None)
            self.held.setdefault(str(frame["lead_id"]), Held(self.clock.now_ms()))

    # ------------------------------------------------------------------------ commands

    def on_key(self, line: str) -> None:
        """Run one typed line: a command, a bare lead id (claims it), or Enter (claims the top)."""
        words = line.strip().split(maxsplit=2)
        if not words:
            self._cmd_claim([])
        elif (command := self._commands.get(words[0].lower())) is not None:
            command(words)
        elif len(words) == 1:
            self.claim(words[0])
        else:
            self.say(f"unknown command {words[0]!r}; `help` lists them")

    def _cmd_claim(self, words: list[str]) -> None:
        lead_id = words[1] if len(words) > 1 else next(reversed(self.open), "")
        if not lead_id:
            self.say("no open lead to claim (`pool` lists the offers this session knows)")
            return
        self.claim(lead_id)

    def _cmd_pool(self, _: list[str]) -> None:
        if not self.open:
            self.say("pool: no open offers known to this session")
            return
        self.say(f"pool: {len(self.open)} open offer(s), top first")
        for i, frame in enumerate(reversed(self.open.values())):
            age = self.clock.now_ms() - int(frame.get("published_ms") or self.clock.now_ms())
            mark = "top " if i == 0 else "    "
            self.say(f"  {mark}{wording.lead(frame)}  ({wording.span(age)} ago)")

    def _cmd_mine(self, _: list[str]) -> None:
        if not self.held:
            self.say("mine: you hold no leads (as far as this session knows)")
            return
        self.say(f"mine: {len(self.held)} held lead(s)")
        for lead_id, held in self.held.items():
            kind = wording.DEADLINES.get(held.kind, "deadline")
            due = (f"{kind} {self.clock.due(held.deadline_ms)}" if held.deadline_ms
                   else "no deadline known yet")
            self.say(f"  {lead_id}  since {self.clock.at(held.since_ms)}; {due}")

    def _cmd_followup(self, words: list[str]) -> None:
        if len(words) < 2:
            self.say("usage: followup ID [NOTE]")
            return
        lead_id = words[1]
        self._act(self.client.followup(lead_id, words[2] if len(words) > 2 else None),
                  lambda f: self._followed(lead_id, f))

    def _cmd_close(self, words: list[str]) -> None:
        if len(words) < 3 or words[2] not in ("won", "lost"):
            self.say("usage: close ID won|lost")
            return
        lead_id, outcome = words[1], words[2]
        self._act(self.client.close_lead(lead_id, outcome), lambda f: self._gone(lead_id, f),
                  outcome)

    def _cmd_release(self, words: list[str]) -> None:
        if len(words) < 2:
            self.say("usage: release ID")
            return
        lead_id = words[1]
        self._act(self.client.release(lead_id), lambda f: self._gone(lead_id, f))

    def _cmd_pause(self, words: list[str]) -> None:
        request = self.client.pause() if words[0].lower() == "pause" else self.client.resume()
        self._act(request, lambda f: None)

    def _followed(self, lead_id: str, frame: Frame) -> None:
        if frame.get("ok") and lead_id in self.held:
            self.held[lead_id].deadline_ms = frame.get("deadline_ms")
            self.held[lead_id].kind = "max_hold"

    def _gone(self, lead_id: str, frame: Frame) -> None:
        if frame.get("ok"):
            self.held.pop(lead_id, None)

    def _act(self, request: Awaitable[Frame], then: Callable[[Frame], None],
             outcome: str = "") -> None:
        async def run() -> None:
            try:
                frame = await request
            except Unavailable:
                self.say("not done: the server is temporarily unavailable; try again shortly")
                return
            except (SessionClosed, ConnectionError) as exc:
                self.say(f"not sent or not answered ({exc}); check with `mine` and retry")
                return
            then(frame)
            self.say(wording.action(frame, self.clock, outcome))

        self._spawn(run())

    # ------------------------------------------------------------------------ claims

    def claim(self, lead_id: str) -> None:
        self._spawn(self._claim(lead_id))

    async def _claim(self, lead_id: str) -> None:
        req_id = self._unanswered.pop(lead_id, None) or self.client.new_req_id()
        self._asked.add(req_id)
        try:
            result = await self.client.claim(lead_id, req_id)
        except Unavailable as exc:
            self._unanswered[lead_id] = exc.req_id
            self.say(f"claim {lead_id}: not decided, the server is temporarily unavailable"
                     f" ({exc.message}); `claim {lead_id}` retries it with the same req_id")
            if self.auto_claim:
                self._retry_later(lead_id, UNAVAILABLE_RETRY_S)
            return
        except (SessionClosed, ConnectionError):
            return  # the frame loop reports why the session ended
        self._track_claim_result(result)
        line = describe_claim(result)
        wait = result.get("retry_after_ms")
        if self.auto_claim and result.get("result") == "rejected" and isinstance(wait, int) \
                and self._retry_later(lead_id, wait / 1000):
            line += "; auto-claim retries then"
        self.say(line)

    def _retry_later(self, lead_id: str, delay_s: float) -> bool:
        """Claim again after `delay_s` (once per lead per wait) while the lead is open."""
        if lead_id in self._retries or lead_id not in self.open:
            return False
        self._retries[lead_id] = asyncio.get_running_loop().call_later(
            delay_s, self._retry_now, lead_id)
        return True

    def _retry_now(self, lead_id: str) -> None:
        self._retries.pop(lead_id, None)
        if lead_id in self.open:
            self.claim(lead_id)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _keys(self, lines: Lines) -> None:
        while (line := await lines.get()) is not None:
            self.on_key(line)


def stdin_lines() -> Lines:
    """Lines typed on stdin, read by a daemon thread so Ctrl-C never waits for Enter."""
    loop = asyncio.get_running_loop()
    lines: Lines = asyncio.Queue()

    def read() -> None:
        with contextlib.suppress(RuntimeError):  # the loop may be closed when we exit
            with contextlib.suppress(OSError, ValueError):  # no readable stdin: no keyboard
                for line in sys.stdin:
                    loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read, name="leadgrab-stdin", daemon=True).start()
    return lines
