"""The Python push client: one rep session that reconnects, resumes and retries claims by itself."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from clients.errors import SessionClosed, Unavailable, Unreachable
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

__all__ = ["LeadGrabClient", "SessionClosed", "StatusHook", "Unavailable", "Unreachable"]

log = logging.getLogger(__name__)
STREAM_FRAMES = frozenset({"lead", "lead_taken"})
WELCOME_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0
_RETRYABLE = (OSError, TimeoutError, ConnectionClosed, InvalidHandshake)
TokenSource = Callable[[], Awaitable[str]]  # asked for a token before each connection


StatusHook = Callable[[str, str], None]  # (state "lost" | "live", detail) on each change


class LeadGrabClient:
    """A rep's session: `frames()` yields server frames across reconnects, exactly once each.

    A background task owns the socket: it answers `claim()` futures, resumes from the last
    `seq` after a reconnect and resends unanswered claims with their original `req_id`. The
    frame queue is bounded: when it is full, stream frames are dropped and replayed later by
    reconnecting with `resume`, so a slow consumer costs a reconnect, never a lost lead.

    `token` is a rep token, or an async callable asked for one before every connection: with
    a callable, a session whose token expires (close 4001 after `welcome`) reconnects with a
    new token and resumes; with a plain token it ends with SessionClosed.

    A claim the server answers with `error unavailable` raises Unavailable (with the req_id
    to retry). Connection state changes go to `on_status` once each (default: logged), not
    once per reconnect attempt; with `fail_fast`, a first connection that fails raises
    Unreachable instead of retrying.
    """

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

    async def __aenter__(self) -> LeadGrabClient:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    # ------------------------------------------------------------------------ public API

    def new_req_id(self) -> str:
        """A req_id unique across clients and runs (the server remembers them for a day)."""
        return next(self._req_ids)

    def backoff_s(self, attempt: int) -> float:
        """Full-jitter exponential backoff before reconnect attempt `attempt` (from 0)."""
        return random.uniform(0, min(self._cap_s, self._base_s * 2 ** min(attempt, 32)))

    async def connect(self) -> Frame:
        """Start the session if needed and wait until it is live; returns the latest welcome."""
        task = self._start()
        if not self._live.is_set():
            waiter = asyncio.ensure_future(self._live.wait())
            try:
                await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
        if self._failure is not None:
            raise self._failure
        if self.welcome is None or not self._live.is_set():
            raise ConnectionError("the client is closed")
        return self.welcome

    async def frames(self) -> AsyncIterator[Frame]:
        """Every server frame in order (welcome, lead, lead_taken, claim_result, ...)."""
        if self._task is None:
            self._start()
        while True:
            if self._failure is not None and self._queue.empty():
                raise self._failure
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            await self._catch_up()
            yield item

    async def claim(self, lead_id: str, req_id: str | None = None) -> Frame:
        """Claim a lead and return its final `claim_result`.

        An unanswered claim is resent with the same req_id after a reconnect: never twice won.
        """
        self._start()
        req_id = req_id or self.new_req_id()
        frame, future, new = self._pending.claim(req_id, lead_id)
        try:
            if new:
                await self._send(frame)
            return await future
        finally:
            self._pending.claims.pop(req_id, None)

    async def release(self, lead_id: str) -> Frame:
        """Give back a held lead; returns its `action_result`."""
        return await self._act({"type": "release", "lead_id": lead_id})

    async def close_lead(self, lead_id: str, outcome: str) -> Frame:
        """Record the sales outcome ("won" or "lost") of a held lead; returns `action_result`."""
        return await self._act({"type": "close", "lead_id": lead_id, "outcome": outcome})

    async def followup(self, lead_id: str, note: str | None = None) -> Frame:
        """Record progress on a held lead; its `action_result` carries the next `deadline_ms`."""
        return await self._act({"type": "followup", "lead_id": lead_id, "note": note})

    async def pause(self) -> Frame:
        """Go out of office: no offers, claims rejected `not_open`; returns `action_result`."""
        return await self._act({"type": "pause"})

    async def resume(self) -> Frame:
        """Come back on the floor; returns `action_result`."""
        return await self._act({"type": "resume"})

    async def aclose(self) -> None:
        """Stop the session: close the socket, end `frames()`, fail unanswered requests."""
        self._closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._queue.put_nowait(None)
        self._pending.fail(self._failure or ConnectionError("the client is closed"))

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

    async def _act(self, frame: Frame) -> Frame:
        """Send a release, close, followup, pause or resume once and await its `action_result`.

        Not resent after a reconnect (it is not idempotent): a lost connection raises
        ConnectionError, and the caller checks the lead's state. An `error unavailable`
        raises Unavailable: the server answers one connection's requests in order, and a
        claim's error names its req_id, so one without answers the oldest action.
        """
        await self.connect()
        future = self._pending.action(frame)
        if not await self._send(frame):
            self._pending.forget(frame, future)
            raise ConnectionError("connection lost; check the lead's state and retry")
        return await future

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
