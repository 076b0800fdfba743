"""What ends or interrupts a client request: a closed session, a busy server, no server."""

from __future__ import annotations


class SessionClosed(Exception):
    """The server ended the session for good (refused token, protocol error): do not retry.

    `code` is the WebSocket close code, or the HTTP status of a refused upgrade.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"server closed the session with {code}: {reason or 'no reason given'}")
        self.code, self.reason = code, reason


class Unavailable(Exception):
    """The server could not serve a request now (its store is down): a temporary outcome.

    For a claim, retry later with the same `req_id` (the answer is idempotent):
    `claim(lead_id, req_id)`. For an action `req_id` and `lead_id` are empty.
    """

    def __init__(self, req_id: str, lead_id: str, message: str) -> None:
        what = f"claim {lead_id}" if req_id else "request"
        super().__init__(f"{what} not done: {message or 'server unavailable'}")
        self.req_id, self.lead_id, self.message = req_id, lead_id, message


class Unreachable(ConnectionError):
    """The first connection to the server failed (`fail_fast`): nothing answers at `url`."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the server at {url} ({reason})")
        self.url, self.reason = url, reason
