"""The Python push client: one rep session that reconnects, resumes and retries claims by itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import TracebackType

from clients.connection import Connection, StatusHook
from clients.errors import SessionClosed, Unavailable, Unreachable
from server.protocol import Frame

__all__ = ["LeadGrabClient", "SessionClosed", "StatusHook", "Unavailable", "Unreachable"]


class LeadGrabClient(Connection):
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
