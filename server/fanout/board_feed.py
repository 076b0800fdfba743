"""The manager feed: one tail per team over its audit and presence streams, fanned out to
every open board with the state of what each batch names; resumable by entry id."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from server.background import stop_requested
from server.floor.floor_view import FloorView
from server.store.board_reads import BoardReads, Entry
from server.store.store import StoreError

log = logging.getLogger(__name__)
BLOCK_MS = 1000
READ_COUNT = 500
QUEUE_MESSAGES = 1000  # a board this far behind is disconnected (it reconnects and resumes)
FAIRNESS_EVERY_S = 5.0
SHIFT_EVERY_S = 30.0
DECIDING = frozenset({"claim", "settle", "dispatch", "reassign", "auto_assign", "assign"})
Cursor = dict[str, str]


def id_key(entry_id: str) -> tuple[int, int]:
    ms, _, n = entry_id.partition("-")
    return int(ms), int(n or 0)


@dataclass(eq=False)
class Board:
    """One open board: the teams it may see, its queue, and what it has been sent."""

    teams: frozenset[str]
    sent: dict[str, Cursor] = field(default_factory=dict)
    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_MESSAGES))
    held_back: list[dict[str, Any]] | None = field(default_factory=list)  # None once live
    overflowed: bool = False

    def push(self, message: dict[str, Any]) -> None:
        if self.held_back is not None:
            self.held_back.append(message)
            return
        self.send(message)

    def send(self, message: dict[str, Any]) -> None:
        fresh = self.unseen(message)
        if fresh is None:
            return
        try:
            self.queue.put_nowait(fresh)
        except asyncio.QueueFull:
            self.overflowed = True
            self.queue.get_nowait()
            self.queue.put_nowait(None)  # the reader closes the socket: "too slow"

    def unseen(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """The message without entries this board already has (moves its cursor)."""
        if message["type"] != "events":
            return message
        cursor = self.sent.setdefault(message["team"], {"audit": "0-0", "presence": "0-0"})
        out = dict(message)
        for stream, name in (("audit", "entries"), ("presence", "presence")):
            rows = [e for e in message[name] if id_key(e["id"]) > id_key(cursor[stream])]
            if rows:
                cursor[stream] = rows[-1]["id"]
            out[name] = rows
        return out if out["entries"] or out["presence"] else None


class BoardFeed:
    """Tails each team once per process and delivers to the boards that may see it."""

    def __init__(self, view: FloorView, reads: BoardReads, teams: Iterable[str]) -> None:
        self.view = view
        self.reads = reads
        self.teams = list(teams)
        self.boards: set[Board] = set()
        self.instance = f"gw-{uuid.uuid4().hex[:12]}"  # never reads as a number
        self.tasks: list[asyncio.Task[None]] = []
        self.idle: dict[str, asyncio.Event] = {}  # teams whose tail waits for a board
        self.resume_at: dict[str, Cursor] = {}  # where a woken tail continues
        self.waking = asyncio.Lock()  # boards opening together: the first wakes the tail

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._run(team), name=f"leadgrab:board:{team}")
                      for team in self.teams]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for team in self.teams:
            try:
                await self.reads.forget_instance(team, self.instance)
            except StoreError as exc:
                log.warning("presence of %s not cleared: %s", team, exc)

    def presence(self, team: str, rep: str, delta: int) -> None:
        """A rep's socket opened or closed here (written in the background)."""
        task = asyncio.create_task(self._presence(team, rep, delta))
        self.tasks.append(task)
        task.add_done_callback(self.tasks.remove)

    async def _presence(self, team: str, rep: str, delta: int) -> None:
        try:
            await self.reads.presence_changed(team, rep, self.instance, delta,
                                              int(time.time() * 1000))
        except StoreError as exc:
            log.warning("presence of %s not recorded: %s", rep, exc)

    async def open(self, teams: frozenset[str], resume: dict[str, Cursor] | None) -> Board:
        """A new board: a snapshot per team, or the entries after its cursor, then live."""
        board = Board(teams)
        self.boards.add(board)
        try:
            for team in sorted(teams):
                await self._wake(team)
                cursor = (resume or {}).get(team)
                if cursor is None or await self._trimmed(team, cursor):
                    snap = await self.view.snapshot(team)
                    board.sent[team] = dict(snap["cursor"])
                    board.send(snap)
                else:
                    board.sent[team] = dict(cursor)
                    await self._backfill(board, team, cursor)
        except BaseException:
            self.boards.discard(board)
            raise
        held, board.held_back = board.held_back or [], None
        for message in held:
            board.send(message)
        return board

    def close(self, board: Board) -> None:
        self.boards.discard(board)

    async def _trimmed(self, team: str, cursor: Cursor) -> bool:
        """Whether entries after the cursor may have been trimmed (then: a new snapshot)."""
        if not _valid(cursor):
            return True
        oldest = await self.reads.oldest(team)
        return oldest is not None and id_key(cursor["audit"]) < id_key(oldest)

    async def _backfill(self, board: Board, team: str, cursor: Cursor) -> None:
        position = dict(cursor)
        while True:
            found = await self.reads.tail(team, position, READ_COUNT, None)
            if not found["audit"] and not found["presence"]:
                return
            board.send(await self.view.batch(team, found["audit"], found["presence"]))
            for stream in ("audit", "presence"):
                if found[stream]:
                    position[stream] = found[stream][-1][0]

    async def _wake(self, team: str) -> None:
        """Start a sleeping tail at the streams' end as it is now, before the new board's
        snapshot or backfill is read: whatever comes after those reaches the board live."""
        async with self.waking:
            event = self.idle.get(team)
            if event is not None and not event.is_set():
                self.resume_at[team] = await self.reads.last_ids(team)
                event.set()

    async def _until_watched(self, team: str) -> Cursor:
        """Sleep while no board here shows the team: every claim writes an audit entry, and
        reading each one for nobody was a sixth of a claim's CPU in the gateway."""
        event = self.idle[team] = asyncio.Event()
        try:
            await event.wait()
        finally:
            del self.idle[team]
        return self.resume_at.pop(team)

    async def _run(self, team: str) -> None:
        """Tail one team until stopped; a Redis fault is logged and retried."""
        cursor: Cursor | None = None
        clock = {"fairness": 0.0, "shift": time.monotonic(), "due": 0.0}
        shifts: dict[str, bool] = {}
        while not stop_requested():
            try:
                if not any(team in board.teams for board in self.boards):
                    shifts.clear()  # known again from the first look after waking
                    cursor = await self._until_watched(team)
                cursor = cursor or await self.reads.last_ids(team)
                found = await self.reads.tail(team, cursor, READ_COUNT, BLOCK_MS)
                await self._deliver(team, cursor, found, clock)
                await self._timed(team, clock, shifts)
            except StoreError as exc:
                log.warning("board feed of %s: %s", team, exc)
                await asyncio.sleep(1.0)

    async def _deliver(self, team: str, cursor: Cursor, found: dict[str, list[Entry]],
                       clock: dict[str, float]) -> None:
        if not found["audit"] and not found["presence"]:
            return
        for stream in ("audit", "presence"):
            if found[stream]:
                cursor[stream] = found[stream][-1][0]
        if any(f.get("action") in DECIDING for _, f in found["audit"]):
            clock["due"] = clock["due"] or time.monotonic()
        watching = [b for b in self.boards if team in b.teams]
        if watching:
            message = await self.view.batch(team, found["audit"], found["presence"])
            for board in watching:
                board.push(message)

    async def _timed(self, team: str, clock: dict[str, float], shifts: dict[str, bool]) -> None:
        """Fairness after decisions (at most every few seconds), shift changes twice a minute."""
        now = time.monotonic()
        watching = [b for b in self.boards if team in b.teams]
        if clock["due"] and now - clock["fairness"] >= FAIRNESS_EVERY_S and watching:
            clock["fairness"], clock["due"] = now, 0.0
            message = {"type": "fairness", "team": team, **await self.view.fairness(team)}
            for board in watching:
                board.push(message)
        if now - clock["shift"] >= SHIFT_EVERY_S:
            clock["shift"] = now
            for message in await self.view.shift_changes(team, shifts):
                for board in watching:
                    board.push(message)


def _valid(cursor: Cursor) -> bool:
    try:
        return all(id_key(cursor[s]) >= (0, 0) for s in ("audit", "presence"))
    except (KeyError, ValueError, TypeError, AttributeError):
        return False
