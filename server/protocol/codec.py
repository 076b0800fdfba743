"""Frame serialisation: the only place that knows the JSON and msgpack framing."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

import msgpack

from server.protocol.codes import (
    SUBPROTOCOL_JSON,
    SUBPROTOCOL_MSGPACK,
    Codec,
    ErrorCode,
    Frame,
    ProtocolError,
)
from server.protocol.limits import MAX_DEPTH, SURROGATE, wire_problem

# One encoder for every frame: json.dumps with options builds a new JSONEncoder per call.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_PROBE = {"s": "é\u2028\"", "n": [1, 2.5, None, True], "m": {"k": {}}}


def _c_encoder() -> Callable[[Any, int], Sequence[str]] | None:
    """The C encoder `_JSON.encode` builds anew on every call (a third of a small frame's
    encoding), built once; None where this Python's C encoder takes other arguments (then
    every frame goes through `_JSON.encode`). Frames hold no cycles: none is looked for."""
    if c_make_encoder is None:
        return None
    try:
        made = c_make_encoder(None, _JSON.default, encode_basestring, None, ":", ",", False,
                              False, False)
        same = "".join(made(_PROBE, 0)) == _JSON.encode(_PROBE)
    except TypeError:
        return None
    return made if same and _refuses_nan(made) else None


def _refuses_nan(made: Callable[[Any, int], Sequence[str]]) -> bool:
    try:
        made(math.nan, 0)
    except ValueError:
        return True
    return False


_C_ENCODER = _c_encoder()


def encode(frame: Mapping[str, Any], codec: Codec) -> str | bytes:
    """Serialise a frame: compact JSON text, or msgpack bytes. Encode a broadcast once per codec."""
    if codec == Codec.JSON:
        if _C_ENCODER is not None:
            return "".join(_C_ENCODER(frame, 0))
        return _JSON.encode(frame)
    packed: bytes = msgpack.packb(frame, use_bin_type=True)
    return packed


def decode_server(data: str | bytes, codec: Codec) -> Frame:
    """Parse one server frame (for clients): a map with a string `type`, otherwise untouched."""
    return parse(data, codec)


def parse(data: str | bytes, codec: Codec) -> Frame:
    value = _load_json(data) if codec == Codec.JSON else _load_msgpack(data)
    if not isinstance(value, dict):
        got = type(value).__name__
        raise ProtocolError(ErrorCode.BAD_FRAME, f"a frame must be a map with a type, got {got}")
    problem = None if _plainly_fine(data) else wire_problem(value)
    if problem:
        raise ProtocolError(ErrorCode.BAD_FRAME, problem)
    if not isinstance(value.get("type"), str):
        got = show(value["type"]) if "type" in value else "nothing"
        raise ProtocolError(
            ErrorCode.BAD_FIELD, f"frame.type: expected a string naming the message, got {got}"
        )
    return value


def _plainly_fine(data: str | bytes) -> bool:
    """Whether JSON text cannot hold what `wire_problem` looks for (the walk costs a third of
    a small frame's decoding): no surrogate, no escape that could make one, and fewer maps
    and arrays in all than the depth limit. Otherwise (msgpack too) the decoded value is
    walked."""
    return (isinstance(data, str) and "\\u" not in data and SURROGATE.search(data) is None
            and data.count("{") + data.count("[") <= MAX_DEPTH)


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


def show(value: object) -> str:
    """A short, JSON-looking rendering of a bad value for an error message."""
    if isinstance(value, str) and len(value) > 40:
        return f"a string of {len(value)} characters"
    if isinstance(value, bytes | bytearray):
        return "binary data"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return f"a value of type {type(value).__name__}"
    return text if len(text) <= 60 else f"{text[:57]}..."
