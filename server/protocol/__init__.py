"""Wire protocol v1: frames, close and error codes, and pure JSON/msgpack encode and decode."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import IntEnum, StrEnum
from typing import Any, ClassVar, Literal

import msgpack
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.contracts.reasons import Outcome, Reason
from server.contracts.results import ActionResult

PROTOCOL_VERSION = 1
SUBPROTOCOL_JSON = "leadgrab.v1.json"
SUBPROTOCOL_MSGPACK = "leadgrab.v1.msgpack"
SUBPROTOCOLS = (SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK)
ACTIONS = frozenset({"release", "close", "followup", "pause", "resume"})

Frame = dict[str, Any]


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
    BAD_JSON = "bad_json"  # an HTTP body that is not a JSON object
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"  # a field is missing or has the wrong type or size
    TOO_LARGE = "too_large"
    AUTH_FAILED = "auth_failed"
    FORBIDDEN = "forbidden"
    NOT_AUTHENTICATED = "not_authenticated"  # anything but hello before the hello
    UNAVAILABLE = "unavailable"  # Redis down or another temporary fault: retry later
    INTERNAL = "internal"


_TEMPORARY_ERRORS = frozenset({ErrorCode.UNAVAILABLE})


class ProtocolError(Exception):
    """A client sent something the protocol does not allow; the message is safe to send back."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def frame(self) -> Frame:
        """The error frame that reports this error to the client."""
        return error(self.code, self.message)


# ---------------------------------------------------------------------------- client frames

_LEAD_ID = "a non-empty string of at most 128 characters"
_STREAM_ID = 'a stream entry id such as "1700000000000-0", or null'


class _ClientFrame(BaseModel):
    """Strict about the fields it knows, silent about the ones it does not (forward compatible)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)
    TYPE: ClassVar[str]

    def to_wire(self) -> Frame:
        """The frame as a map ready for `encode` (used by the Python client)."""
        return {"type": self.TYPE, **self.model_dump(exclude_none=True)}


class Hello(_ClientFrame):
    TYPE: ClassVar[str] = "hello"
    # repr=False keeps bearer tokens out of logs and tracebacks.
    token: str = Field(
        min_length=1,
        max_length=4096,
        repr=False,
        description="a non-empty token string of at most 4096 characters",
    )
    resume: str | None = Field(default=None, pattern=r"^\d{1,20}-\d{1,20}$", description=_STREAM_ID)


class Claim(_ClientFrame):
    TYPE: ClassVar[str] = "claim"
    req_id: str = Field(
        min_length=1, max_length=64, description="a non-empty string of at most 64 characters"
    )
    lead_id: str = Field(min_length=1, max_length=128, description=_LEAD_ID)
    rep: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="the claiming rep's id (a non-empty string of at most 64 characters), or null",
    )


class Followup(_ClientFrame):
    TYPE: ClassVar[str] = "followup"
    lead_id: str = Field(min_length=1, max_length=128, description=_LEAD_ID)
    note: str | None = Field(
        default=None, max_length=2000, description="a string of at most 2000 characters, or null"
    )


class Release(_ClientFrame):
    TYPE: ClassVar[str] = "release"
    lead_id: str = Field(min_length=1, max_length=128, description=_LEAD_ID)


class Close(_ClientFrame):
    TYPE: ClassVar[str] = "close"
    lead_id: str = Field(min_length=1, max_length=128, description=_LEAD_ID)
    outcome: Literal["won", "lost"] = Field(description='"won" or "lost"')


class Pause(_ClientFrame):
    TYPE: ClassVar[str] = "pause"


class Resume(_ClientFrame):
    TYPE: ClassVar[str] = "resume"


ClientFrame = Hello | Claim | Followup | Release | Close | Pause | Resume
_CLIENT_FRAMES: dict[str, type[ClientFrame]] = {
    model.TYPE: model for model in (Hello, Claim, Followup, Release, Close, Pause, Resume)
}


def decode_client(data: str | bytes, codec: Codec) -> ClientFrame:
    """Parse and validate one client frame; raises ProtocolError naming what is wrong."""
    raw = _parse(data, codec)
    model = _CLIENT_FRAMES.get(raw["type"])
    if model is None:
        known = ", ".join(sorted(_CLIENT_FRAMES))
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE, f"unknown type {_show(raw['type'])}; expected one of {known}"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _field_error(model, exc) from None


def _field_error(model: type[ClientFrame], exc: ValidationError) -> ProtocolError:
    problem = exc.errors(include_url=False)[0]
    name = str(problem["loc"][0]) if problem["loc"] else "?"
    field = model.model_fields.get(name)
    expected = field.description if field and field.description else problem["msg"]
    where = f"{model.TYPE}.{name}"
    if problem["type"] == "missing":
        return ProtocolError(ErrorCode.BAD_FIELD, f"{where}: missing; expected {expected}")
    got = _show(problem["input"])
    return ProtocolError(ErrorCode.BAD_FIELD, f"{where}: expected {expected}, got {got}")


def _show(value: object) -> str:
    """A short, JSON-looking rendering of a bad value for an error message."""
    if isinstance(value, str) and len(value) > 40:
        return f"a string of {len(value)} characters"
    if isinstance(value, bytes | bytearray):
        return "binary data"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return f"a value of type {type(value).__name__}"
    return text if len(text) <= 60 else f"{text[:57]}..."


# ---------------------------------------------------------------------------- server frames


def welcome(
    rep: str,
    team: str,
    server_time_ms: int,
    quota: Mapping[str, Any],
    cooldown_until_ms: int | None,
    rules_version: int,
) -> Frame:
    """The reply to a valid hello: who the rep is and their current quota and cooldown."""
    return {
        "type": "welcome",
        "protocol": PROTOCOL_VERSION,
        "rep": rep,
        "team": team,
        "server_time_ms": server_time_ms,
        "quota": dict(quota),
        "cooldown_until_ms": cooldown_until_ms,
        "rules_version": rules_version,
    }


def lead(payload: Mapping[str, Any]) -> Frame:
    """A published lead; `payload` holds lead_id, team, seq and the lead's public attributes."""
    missing = [key for key in ("lead_id", "team", "seq") if key not in payload]
    if missing:
        raise ValueError(f"lead payload lacks {', '.join(missing)}")
    frame: Frame = {"type": "lead"}
    frame.update((key, value) for key, value in payload.items() if key != "type")
    return frame


def claim_result(
    req_id: str,
    lead_id: str,
    result: Outcome,
    reason: Reason | None = None,
    retry_after_ms: int | None = None,
) -> Frame:
    """The answer to one claim; `reason` is required when the result is rejected."""
    result = Outcome(result)
    if result is Outcome.REJECTED and reason is None:
        raise ValueError("a rejected claim result needs a reason")
    frame: Frame = {"type": "claim_result", "req_id": req_id, "lead_id": lead_id}
    frame["result"] = result.value
    if reason is not None:
        frame["reason"] = Reason(reason).value
    if retry_after_ms is not None:
        frame["retry_after_ms"] = retry_after_ms
    return frame


def action_result(action: str, result: ActionResult) -> Frame:
    """The answer to a release or close: ok, or the reason nothing changed."""
    if action not in ACTIONS:
        raise ValueError(f"action {action!r} is not one of {', '.join(sorted(ACTIONS))}")
    frame: Frame = {"type": "action_result", "action": action, "lead_id": result.lead_id}
    frame["ok"] = result.ok
    if result.reason is not None:
        frame["reason"] = Reason(result.reason).value
    if result.deadline_ms is not None:
        frame["deadline_ms"] = result.deadline_ms
    return frame


def assigned(lead_id: str, seq: str, by: str, reason: str, lead: Mapping[str, Any]) -> Frame:
    """Tells a rep a lead is now theirs without a claim (dispatch, duplicate, auto-assign)."""
    return {"type": "assigned", "lead_id": lead_id, "seq": seq, "by": by, "reason": reason,
            "lead": dict(lead)}


def revoked(lead_id: str, reason: str) -> Frame:
    """Tells a rep a lead they held is no longer theirs (recycled, reassigned, withdrawn)."""
    return {"type": "revoked", "lead_id": lead_id, "reason": reason}


def warning(lead_id: str, deadline_ms: int, kind: str) -> Frame:
    """Warns the holder that a deadline (`followup` or `max_hold`) is close."""
    return {"type": "warning", "lead_id": lead_id, "deadline_ms": deadline_ms, "kind": kind}


def paused(is_paused: bool) -> Frame:
    """Tells a rep they were paused (no offers, no claims) or resumed."""
    return {"type": "paused", "paused": is_paused}


def lead_taken(lead_id: str, seq: str) -> Frame:
    """Tells every client a lead is decided, so they drop it."""
    return {"type": "lead_taken", "lead_id": lead_id, "seq": seq}


def error(code: ErrorCode, message: str, temporary: bool | None = None) -> Frame:
    """An error frame; `temporary` defaults to whether the code is a temporary one."""
    if temporary is None:
        temporary = code in _TEMPORARY_ERRORS
    return {"type": "error", "code": str(code), "message": message, "temporary": temporary}


def gap(requested: str, first_available: str | None) -> Frame:
    """Tells a resuming client that entries after `requested` were trimmed from the stream."""
    return {"type": "gap", "requested": requested, "first_available": first_available}


def resumed(count: int) -> Frame:
    """Ends a resume replay: `count` frames were replayed and live frames follow."""
    return {"type": "resumed", "count": count}


# ---------------------------------------------------------------------------- framing


def encode(frame: Mapping[str, Any], codec: Codec) -> str | bytes:
    """Serialise a frame: compact JSON text, or msgpack bytes. Encode a broadcast once per codec."""
    if codec == Codec.JSON:
        return json.dumps(frame, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    packed: bytes = msgpack.packb(frame, use_bin_type=True)
    return packed


def decode_server(data: str | bytes, codec: Codec) -> Frame:
    """Parse one server frame (for clients): a map with a string `type`, otherwise untouched."""
    return _parse(data, codec)


def _parse(data: str | bytes, codec: Codec) -> Frame:
    value = _load_json(data) if codec == Codec.JSON else _load_msgpack(data)
    if not isinstance(value, dict):
        got = type(value).__name__
        raise ProtocolError(ErrorCode.BAD_FRAME, f"a frame must be a map with a type, got {got}")
    if not isinstance(value.get("type"), str):
        got = _show(value["type"]) if "type" in value else "nothing"
        raise ProtocolError(
            ErrorCode.BAD_FIELD, f"frame.type: expected a string naming the message, got {got}"
        )
    return value


def _load_json(data: str | bytes) -> Any:
    if not isinstance(data, str):
        raise ProtocolError(
            ErrorCode.BAD_FRAME, f"{SUBPROTOCOL_JSON} carries text frames, got a binary frame"
        )
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"malformed JSON: {_reason(exc)}") from None


def _load_msgpack(data: str | bytes) -> Any:
    if not isinstance(data, bytes | bytearray):
        raise ProtocolError(
            ErrorCode.BAD_FRAME, f"{SUBPROTOCOL_MSGPACK} carries binary frames, got a text frame"
        )
    try:
        return msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, RecursionError, msgpack.UnpackException) as exc:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"malformed msgpack: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
