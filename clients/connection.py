"""The rep client's connection: connect, greet, pump frames, reconnect with backoff, resume."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from clients.errors import SessionClosed, Unreachable
from clients.pending import Pending
from server.protocol import (
    CloseCode,
    Codec,
    Frame,
    ProtocolError,
    decode_server,
    encode,
    should_reconnect,
)

__all__ = ["Connection", "StatusHook", "TokenSource"]

log = logging.getLogger("clients.client")  # one logger name for everything the client says
STREAM_FRAMES = frozenset({"lead", "lead_taken"})
WELCOME_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0
_RETRYABLE = (OSError, TimeoutError, ConnectionClosed, InvalidHandshake)
TokenSource = Callable[[], Awaitable[str]]  # asked for a token before each connection


StatusHook = Callable[[str, str], None]  # (state "lost" | "live", detail) on each change



class Connection:
    """The background task that owns one rep's socket; LeadGrabClient is its public face."""

    def __init__(self, url: str, token: str | TokenSource, *, codec: Codec = Codec.JSON,
                 resume: str | None = None, backoff_base_s: float = 0.2,
                 backoff_cap_s: float = 10.0, max_frames: int = 1024,
                 on_status: StatusHook | None = None, fail_fast: bool = False) -> None:
        self.url, self.codec, self.last_seq = url, codec, resume
        self._on_status, self._fail_fast = on_status or _log_status, fail_fast
        self._state = "new"  # "live" after a welcome, "lost" while reconnecting
        self.welcome: Frame | None = None
        self._token = token
        self._base_s, self._cap_s, self._max_frames = backoff_base_s, backoff_cap_s, max_frames
        self._queue: asyncio.Queue[Frame | BaseException | None] = asyncio.Queue()
        self._pending = Pending()
        self._ws: ClientConnection | None = None
        self._live = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._baseline = self._behind = self._resyncing = self._closed = False
        self._greeted = False  # this connection got its welcome
        self._last_error = ""
        self._req_ids = (f"{uuid.uuid4().hex[:12]}-{n}" for n in itertools.count(1))

    def backoff_s(self, attempt: int) -> float:
        """Full-jitter exponential backoff before reconnect attempt `attempt` (from 0)."""
        return random.uniform(0, min(self._cap_s, self._base_s * 2 ** min(attempt, 32)))


    # ------------------------------------------------------------------------ requests

    def _start(self) -> asyncio.Task[None]:
        """The background task, started on first use; raises once the session is over."""
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise ConnectionError("the client is closed")
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"leadgrab-client {self.url}")
        return self._task

    async def _send(self, frame: Frame) -> bool:
        """Send now if connected; False if not (an unanswered claim is resent after welcome)."""
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(encode(frame, self.codec))
        except ConnectionClosed:
            return False
        return True

    # ------------------------------------------------------------------------ connection

    async def _run(self) -> None:
        """The background task: surfaces a final failure to frames() and every waiter."""
        try:
            await self._loop()
        except Exception as exc:
            self._failure = exc
            self._queue.put_nowait(exc)
            self._pending.fail(exc)

    async def _loop(self) -> None:
        """Connect, pump frames, and reconnect with backoff until refused for good."""
        attempt = 0
        while True:
            try:
                async with websockets.connect(
                    self.url, subprotocols=[Subprotocol(self.codec.subprotocol)],
                    open_timeout=WELCOME_TIMEOUT_S, close_timeout=CLOSE_TIMEOUT_S,
                ) as ws:
                    self._greeted = False
                    welcome = await self._greet(ws)
                    self._greeted = True
                    attempt = 0
                    self._status("live", self.url)
                    await self._pump(ws, self._go_live(ws, welcome))
            except _RETRYABLE as exc:
                self._raise_if_final(exc)
            finally:
                self._ws = None
                self._live.clear()
                self._pending.fail_actions(ConnectionError("connection lost before the answer"))
            if self._resyncing:
                self._resyncing = False
                continue
            await asyncio.sleep(self.backoff_s(attempt))
            attempt += 1

    async def _greet(self, ws: ClientConnection) -> Frame:
        """Send hello (resuming from the last seq) and wait for welcome."""
        token = self._token if isinstance(self._token, str) else await self._token()
        hello: dict[str, Any] = {"type": "hello", "token": token}
        if self.last_seq is not None:
            hello["resume"] = self.last_seq
        await ws.send(encode(hello, self.codec))
        async with asyncio.timeout(WELCOME_TIMEOUT_S):
            while (frame := await self._recv(ws))["type"] != "welcome":
                if frame["type"] == "error":
                    self._last_error = str(frame.get("message", ""))
        return frame

    def _go_live(self, ws: ClientConnection, welcome: Frame) -> list[Frame]:
        """Publish the new connection; returns the claims to resend on it.

        No await happens between making the socket visible to claim() and taking this list,
        so each unanswered claim goes out exactly once per connection.
        """
        if self.last_seq is None:
            # Nothing seen yet: resume from just before this welcome if we reconnect, so
            # leads published while away are still replayed (Redis time orders both).
            self.last_seq, self._baseline = f"{int(welcome['server_time_ms']) - 1}-0", True
        self.welcome, self._ws, self._last_error = welcome, ws, ""
        self._behind = False
        self._queue.put_nowait(welcome)
        self._live.set()
        return self._pending.unanswered_claims()

    async def _pump(self, ws: ClientConnection, resend: list[Frame]) -> None:
        for frame in resend:
            await ws.send(encode(frame, self.codec))
        while True:
            self._accept(await ws.recv())

    async def _recv(self, ws: ClientConnection) -> Frame:
        """The next well-formed frame (a malformed one is logged and skipped)."""
        while True:
            try:
                return decode_server(await ws.recv(), self.codec)
            except ProtocolError as exc:
                log.warning("ignoring a malformed frame from %s: %s", self.url, exc.message)

    def _accept(self, data: str | bytes) -> None:
        try:
            frame = decode_server(data, self.codec)
        except ProtocolError as exc:
            log.warning("ignoring a malformed frame from %s: %s", self.url, exc.message)
            return
        self._pending.resolve(frame)
        if self._keep(frame) and self._queue.qsize() < self._max_frames:
            self._queue.put_nowait(frame)

    def _keep(self, frame: Frame) -> bool:
        """Track the resume point; drop stream frames once the queue overflowed."""
        if frame["type"] in STREAM_FRAMES:
            if self._behind or self._queue.qsize() >= self._max_frames:
                self._behind = True
                return False
            if not frame.get("snapshot"):  # the pool on connect: its seqs are no resume point
                self.last_seq, self._baseline = str(frame["seq"]), False
            return True
        # A gap after our own baseline resume only means the stream started after it.
        return not (frame["type"] == "gap" and self._baseline)

    async def _catch_up(self) -> None:
        """Once a dropped-frames backlog has room again, reconnect to have it replayed."""
        ws = self._ws
        room = self._queue.qsize() <= self._max_frames // 2
        if self._behind and room and ws is not None and not self._resyncing:
            self._resyncing = True
            await ws.close()

    def _raise_if_final(self, exc: Exception) -> None:
        """Raise SessionClosed for a close or refusal that a reconnect would only repeat."""
        if isinstance(exc, InvalidStatus) and 400 <= exc.response.status_code < 500:
            status = exc.response.status_code
            raise SessionClosed(status, f"the server refused the WebSocket upgrade (HTTP {status})")
        if isinstance(exc, ConnectionClosed) and not self._resyncing:
            code = exc.rcvd.code if exc.rcvd else 1006
            reason = exc.rcvd.reason if exc.rcvd else ""
            # a token that expired mid-session is renewed from the source; a refused hello is final
            renewable = (code == CloseCode.AUTH_FAILED and self._greeted
                         and not isinstance(self._token, str))
            if not should_reconnect(code) and not renewable:
                raise SessionClosed(code, reason or self._last_error)
        if self._resyncing:
            return
        reason = str(exc) or type(exc).__name__
        if self._fail_fast and self._state == "new":
            raise Unreachable(self.url, reason)
        self._status("lost", reason)

    def _status(self, state: str, detail: str) -> None:
        """Report a change of connection state once (not every reconnect attempt)."""
        if state != self._state:
            self._state = state
            self._on_status(state, detail)


def _log_status(state: str, detail: str) -> None:
    if state == "lost":
        log.warning("connection lost (%s); reconnecting", detail)
    else:
        log.info("connected to %s", detail)
