"""Requests awaiting the server's answer: claims matched by req_id, actions by kind and lead."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from clients.errors import Unavailable
from server.protocol import Frame


class Pending:
    """The futures of unanswered requests, and how each server answer reaches its request.

    The server answers one connection's requests in order, and a claim's `error` names its
    req_id, so an `error unavailable` without one answers the oldest unanswered action.
    """

    def __init__(self) -> None:
        self.claims: dict[str, tuple[Frame, asyncio.Future[Frame]]] = {}
        self._actions: dict[tuple[str, str], list[asyncio.Future[Frame]]] = {}
        self._sent: deque[asyncio.Future[Frame]] = deque()  # actions in the order sent

    def claim(self, req_id: str, lead_id: str) -> tuple[Frame, asyncio.Future[Frame], bool]:
        """The claim waiting under `req_id`, made now if none is (then the flag is True)."""
        entry = self.claims.get(req_id)
        if entry is not None:
            return entry[0], entry[1], False
        frame = {"type": "claim", "req_id": req_id, "lead_id": lead_id}
        future = asyncio.get_running_loop().create_future()
        self.claims[req_id] = (frame, future)
        return frame, future, True

    def unanswered_claims(self) -> list[Frame]:
        return [frame for frame, future in self.claims.values() if not future.done()]

    def action(self, frame: Frame) -> asyncio.Future[Frame]:
        """Wait for the `action_result` of this release, close, followup, pause or resume."""
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._actions.setdefault(_key(frame["type"], frame.get("lead_id")), []).append(future)
        self._sent.append(future)
        while self._sent and self._sent[0].done():
            self._sent.popleft()
        return future

    def forget(self, frame: Frame, future: asyncio.Future[Frame]) -> None:
        """An action that was never sent."""
        with contextlib.suppress(ValueError):
            self._actions.get(_key(frame["type"], frame.get("lead_id")), []).remove(future)

    def resolve(self, frame: Frame) -> None:
        """Hand a claim or action answer (or a temporary error) to the request it answers."""
        kind = frame["type"]
        if kind == "error" and frame.get("code") == "unavailable":
            self._unavailable(frame)
        elif kind == "claim_result" and frame.get("result") != "pending":
            entry = self.claims.get(str(frame.get("req_id")))
            if entry is not None and not entry[1].done():
                entry[1].set_result(frame)
        elif kind == "action_result":
            waiting = self._actions.get(_key(frame.get("action"), frame.get("lead_id")), [])
            while waiting:  # skip any already failed as unavailable
                future = waiting.pop(0)
                if not future.done():
                    future.set_result(frame)
                    break

    def _unavailable(self, frame: Frame) -> None:
        message = str(frame.get("message", ""))
        if "req_id" in frame:
            entry = self.claims.get(str(frame["req_id"]))
            if entry is not None and not entry[1].done():
                entry[1].set_exception(
                    Unavailable(str(frame["req_id"]), str(frame.get("lead_id", "")), message))
            return
        while self._sent:
            future = self._sent.popleft()
            if not future.done():
                future.set_exception(Unavailable("", "", message))
                return

    def fail(self, exc: BaseException) -> None:
        """Fail every request still waiting (the session is over)."""
        self.fail_actions(exc)
        for _, future in self.claims.values():
            if not future.done():
                future.set_exception(exc)

    def fail_actions(self, exc: BaseException) -> None:
        """Fail the actions still waiting (the connection that carried them is gone)."""
        for waiting in self._actions.values():
            for future in waiting:
                if not future.done():
                    future.set_exception(exc)
        self._actions.clear()
        self._sent.clear()


def _key(action: object, lead_id: object) -> tuple[str, str]:
    return str(action), str(lead_id or "")
