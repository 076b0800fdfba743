"""Wire protocol v1 names: versions, subprotocols, codecs, close codes and error codes."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any

PROTOCOL_VERSION = 1
SUBPROTOCOL_JSON = "leadgrab.v1.json"
SUBPROTOCOL_MSGPACK = "leadgrab.v1.msgpack"
SUBPROTOCOLS = (SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK)
ACTIONS = frozenset({"release", "close", "followup", "pause", "resume"})

Frame = dict[str, Any]  # one frame as a map, before encoding / after decoding


class Codec(StrEnum):
    """How frames are serialised on one connection (chosen by the WebSocket subprotocol)."""

    JSON = "json"
    MSGPACK = "msgpack"

    @property
    def subprotocol(self) -> str:
        return SUBPROTOCOL_JSON if self is Codec.JSON else SUBPROTOCOL_MSGPACK

    @classmethod
    def for_subprotocol(cls, name: str | None) -> Codec:
        """The codec for a negotiated subprotocol; JSON when none was negotiated."""
        if not name or name == SUBPROTOCOL_JSON:
            return cls.JSON
        if name == SUBPROTOCOL_MSGPACK:
            return cls.MSGPACK
        raise ValueError(f"unknown subprotocol {name!r}; expected one of {', '.join(SUBPROTOCOLS)}")


class CloseCode(IntEnum):
    """WebSocket close codes the server sends; `should_reconnect` says what a client should do."""

    GOING_AWAY = 1001  # server shutting down: reconnect with backoff, then resume
    MESSAGE_TOO_BIG = 1009  # a frame exceeded the size limit: client bug, do not reconnect blindly
    AUTH_FAILED = 4001  # token refused: do not reconnect with the same token
    PROTOCOL_ERROR = 4002  # client broke the protocol: client bug, do not reconnect blindly
    HELLO_TIMEOUT = 4003  # no valid hello before the deadline: reconnect
    SLOW_CONSUMER = 4004  # client read too slowly and its send queue overflowed: reconnect, resume
    SERVER_RESTART = 4005  # this server instance is restarting: reconnect, resume


# Codes after which an automatic reconnect would repeat the same failure. Unknown codes in
# 4500-4999 are reserved for future codes of that kind; every other unknown code reconnects.
_TERMINAL_CLOSE_CODES = frozenset(
    {1000, 1002, 1003, 1007, 1008, 1009, 1010, CloseCode.AUTH_FAILED, CloseCode.PROTOCOL_ERROR}
)


def should_reconnect(code: int) -> bool:
    """Whether a client should reconnect (with backoff, then resume) after this close code."""
    return code not in _TERMINAL_CLOSE_CODES and not 4500 <= code <= 4999


class ErrorCode(StrEnum):
    """The `code` of an error frame (and of the HTTP error body)."""

    BAD_FRAME = "bad_frame"  # malformed JSON/msgpack, wrong frame kind, or not a map
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"  # a field is missing or has the wrong type or size
    TOO_LARGE = "too_large"
    AUTH_FAILED = "auth_failed"
    FORBIDDEN = "forbidden"
    NOT_AUTHENTICATED = "not_authenticated"  # anything but hello before the hello
    UNAVAILABLE = "unavailable"  # Redis down or another temporary fault: retry later
    INTERNAL = "internal"
    # HTTP only
    BAD_REQUEST = "bad_request"  # a request aiohttp refused before any handler ran
    NOT_FOUND = "not_found"  # no such route, lead or rep
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INVALID_CONFIG = "invalid_config"  # a reload found the config file invalid: nothing applied
    BAD_JSON = "bad_json"  # a request body that is not a JSON object


_TEMPORARY_ERRORS = frozenset({ErrorCode.UNAVAILABLE})


def error_body(code: ErrorCode, message: str, temporary: bool | None = None) -> dict[str, Any]:
    """`{code, message, temporary}`: an error on either transport (temporary: retry later)."""
    if temporary is None:
        temporary = code in _TEMPORARY_ERRORS
    return {"code": str(code), "message": message, "temporary": temporary}


class ProtocolError(Exception):
    """A client sent something the protocol does not allow; the message is safe to send back."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def frame(self) -> Frame:
        """The error frame that reports this error to the client."""
        return {"type": "error", **error_body(self.code, self.message)}
