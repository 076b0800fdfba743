"""Requests refused before any handler runs: malformed HTTP, and ids in URL paths.

aiohttp answers a request it cannot parse (a request line or header over its limits, bad
framing) itself, with text/plain and an ERROR log line carrying a traceback. Here such a
request gets the API's JSON error body, and one WARNING line: the client is at fault.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from server.protocol import ErrorCode, error_body
from server.protocol.limits import LEAD_ID_RULE, REP_ID_RULE, is_lead_id, is_rep_id
from server.web.errors import ApiError, status_code

log = logging.getLogger(__name__)
# The path ids of the API, by the route prefix that names them.
_PATH_IDS = (("/api/leads/{id}", "lead id", is_lead_id, LEAD_ID_RULE),
             ("/api/reps/{id}", "rep id", is_rep_id, REP_ID_RULE))


def _handle_error(self: RequestHandler, request: web.BaseRequest, status: int = 500,
                  exc: BaseException | None = None, message: str | None = None,
                  ) -> web.StreamResponse:
    """RequestHandler.handle_error, answering with the JSON error body."""
    if isinstance(exc, HttpProcessingError) and status < 500:
        log.warning("refused a malformed request from %s: %s", request.remote,
                    exc.message or type(exc).__name__)
    else:
        self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
    if request.writer.output_size > 0:  # as aiohttp: the answer already started
        raise ConnectionError("response already sent, cannot send an error")
    text = "malformed request" if status < 500 else "internal error"
    if isinstance(exc, HttpProcessingError) and exc.message:
        text = f"malformed request: {exc.message}"[:200]
    resp = web.json_response({"error": error_body(status_code(status), text)}, status=status)
    resp.force_close()
    return resp


def install() -> None:
    """Answer malformed requests with JSON (process-wide; calling it again changes nothing)."""
    RequestHandler.handle_error = _handle_error  # type: ignore[method-assign]


@web.middleware
async def path_ids(request: web.Request, handler: Any) -> web.StreamResponse:
    """A lead or rep id in the path must have its documented form: 400 before the handler."""
    route = request.match_info.route.resource
    canonical = route.canonical if route is not None else ""
    for prefix, name, valid, rule in _PATH_IDS:
        if canonical.startswith(prefix) and not valid(request.match_info.get("id")):
            raise ApiError(400, ErrorCode.BAD_FIELD, f"{name} in the path: expected {rule}")
    response: web.StreamResponse = await handler(request)
    return response
