"""HTTP errors: `ApiError`, and the middleware that answers every failure as a JSON error body."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from server.protocol import ErrorCode, error_body
from server.store.store import StoreError
from server.web.appkeys import METRICS

log = logging.getLogger(__name__)

# Statuses aiohttp raises itself (no route, wrong method, body too big, origin refused).
_STATUS_CODES = {
    401: ErrorCode.AUTH_FAILED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.TOO_LARGE,
    503: ErrorCode.UNAVAILABLE,
}


class ApiError(Exception):
    """An HTTP error, answered as `{"error": {"code", "message", "temporary"}}` with its status."""

    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> web.Response:
        return web.json_response({"error": error_body(self.code, self.message)},
                                 status=self.status)


def status_code(status: int) -> ErrorCode:
    """The error code of an HTTP error status aiohttp raised on its own."""
    default = ErrorCode.BAD_REQUEST if status < 500 else ErrorCode.INTERNAL
    return _STATUS_CODES.get(status, default)


@web.middleware
async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every failure becomes a JSON error with a fitting status; never a stack trace."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return ApiError(exc.status, status_code(exc.status), exc.reason).response()
    except StoreError as exc:
        request.app[METRICS].redis_errors.inc()
        if not exc.temporary:  # Redis answered, and refused: a fault here, not an outage
            log.error("store error on %s %s: %s", request.method, request.path, exc)
            return ApiError(500, ErrorCode.INTERNAL, "internal error").response()
        return ApiError(503, ErrorCode.UNAVAILABLE, "Redis is unavailable; retry later").response()
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return ApiError(500, ErrorCode.INTERNAL, "internal error").response()
