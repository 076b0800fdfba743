"""Wire protocol: round trips on both codecs, and a clear ProtocolError for every bad input."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from server import protocol as p
from server.contracts.reasons import Outcome, Reason
from server.contracts.results import ActionResult

CODECS = [p.Codec.JSON, p.Codec.MSGPACK]

LEAD_PAYLOAD = {
    "lead_id": "L-1",
    "team": "north",
    "seq": "1700000000000-0",
    "value": 1200.5,
    "priority": 3,
    "region": "east",
    "skills": ["solar", "b2b"],
    "mode": "fcfs",
    "customer_id": "C-9",
    "attrs": {"source": "web", "employees": 40, "vip": True},
}

SERVER_FRAMES = {
    "welcome": p.welcome("rep-1", "north", 1_700_000_000_123, {"open": 1, "max_open": 3}, None, 7),
    "welcome_cooling": p.welcome("rep-1", "north", 1, {"daily": 4}, 1_700_000_060_000, 7),
    "lead": p.lead(LEAD_PAYLOAD),
    "claim_won": p.claim_result("r1", "L-1", Outcome.WON),
    "claim_lost": p.claim_result("r1", "L-1", Outcome.LOST),
    "claim_rejected": p.claim_result("r1", "L-1", Outcome.REJECTED, Reason.COOLDOWN, 4500),
    "claim_pending": p.claim_result("r1", "L-1", Outcome.PENDING, retry_after_ms=250),
    "lead_taken": p.lead_taken("L-1", "1700000000001-0"),
    "release_ok": p.action_result("release", ActionResult("L-1", True, None, "1700000000002-0")),
    "close_refused": p.action_result("close", ActionResult("L-1", False, Reason.NOT_HOLDER)),
    "error": p.error(p.ErrorCode.BAD_FIELD, "claim.lead_id: missing"),
    "gap": p.gap("1600000000000-0", "1700000000000-0"),
    "gap_empty": p.gap("1600000000000-0", None),
    "resumed": p.resumed(12),
}

CLIENT_FRAMES = [
    p.Hello(token="t0k3n"),
    p.Hello(token="t0k3n", resume="1700000000000-5"),
    p.Claim(req_id="r1", lead_id="L-1"),
    p.Claim(req_id="r1", lead_id="L-1", rep="rep-1"),
    p.Followup(lead_id="L-1", note="called, wants a quote"),
    p.Followup(lead_id="L-1"),
    p.Release(lead_id="L-1"),
    p.Close(lead_id="L-1", outcome="won"),
]


def wire(frame: dict[str, Any], codec: p.Codec) -> str | bytes:
    """Serialise arbitrary test input (valid or not) the way a client would."""
    if codec == p.Codec.JSON:
        return json.dumps(frame)
    packed: bytes = msgpack.packb(frame, use_bin_type=True)
    return packed


def bad(data: str | bytes, codec: p.Codec) -> p.ProtocolError:
    with pytest.raises(p.ProtocolError) as caught:
        p.decode_client(data, codec)
    return caught.value


# ---------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("name", sorted(SERVER_FRAMES))
def test_server_frame_round_trip(name: str, codec: p.Codec) -> None:
    frame = SERVER_FRAMES[name]
    assert p.decode_server(p.encode(frame, codec), codec) == frame


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("frame", CLIENT_FRAMES, ids=lambda f: type(f).__name__)
def test_client_frame_round_trip(frame: p.ClientFrame, codec: p.Codec) -> None:
    assert p.decode_client(p.encode(frame.to_wire(), codec), codec) == frame


def test_json_is_compact_text_and_msgpack_is_bytes() -> None:
    frame = p.lead_taken("L-ü", "1-0")
    assert p.encode(frame, p.Codec.JSON) == '{"type":"lead_taken","lead_id":"L-ü","seq":"1-0"}'
    assert isinstance(p.encode(frame, p.Codec.MSGPACK), bytes)


def test_hello_repr_hides_the_token() -> None:
    assert "s3cr3t" not in repr(p.Hello(token="s3cr3t"))


def test_to_wire_omits_absent_optionals() -> None:
    assert p.Hello(token="t").to_wire() == {"type": "hello", "token": "t"}


def test_unknown_fields_are_ignored() -> None:
    data = json.dumps({"type": "claim", "req_id": "r", "lead_id": "L", "future": [1, 2]})
    assert p.decode_client(data, p.Codec.JSON) == p.Claim(req_id="r", lead_id="L")


def test_max_length_strings_are_accepted() -> None:
    data = json.dumps({"type": "claim", "req_id": "r" * 64, "lead_id": "L" * 128})
    assert p.decode_client(data, p.Codec.JSON) == p.Claim(req_id="r" * 64, lead_id="L" * 128)


# ---------------------------------------------------------------------------- server frames


def test_claim_result_omits_none_fields() -> None:
    assert p.claim_result("r1", "L-1", Outcome.WON) == {
        "type": "claim_result",
        "req_id": "r1",
        "lead_id": "L-1",
        "result": "won",
    }


def test_claim_result_rejected_carries_reason_and_retry() -> None:
    frame = p.claim_result("r1", "L-1", Outcome.REJECTED, Reason.QUOTA_OPEN, 1000)
    assert (frame["result"], frame["reason"], frame["retry_after_ms"]) == (
        "rejected",
        "quota_open",
        1000,
    )


def test_claim_result_refuses_rejected_without_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        p.claim_result("r1", "L-1", Outcome.REJECTED)


def test_claim_result_refuses_unknown_result() -> None:
    with pytest.raises(ValueError):
        p.claim_result("r1", "L-1", "maybe")  # type: ignore[arg-type]


def test_action_result_shape() -> None:
    assert p.action_result("close", ActionResult("L-1", False, Reason.NOT_HOLDER)) == {
        "type": "action_result",
        "action": "close",
        "lead_id": "L-1",
        "ok": False,
        "reason": "not_holder",
    }
    assert "reason" not in p.action_result("release", ActionResult("L-1", True))


def test_action_result_refuses_unknown_action() -> None:
    with pytest.raises(ValueError, match="grab"):
        p.action_result("grab", ActionResult("L-1", True))


def test_lead_keeps_payload_and_forces_type() -> None:
    frame = p.lead({**LEAD_PAYLOAD, "type": "spoofed"})
    assert frame["type"] == "lead"
    assert {k: v for k, v in frame.items() if k != "type"} == LEAD_PAYLOAD


def test_lead_requires_identity_fields() -> None:
    with pytest.raises(ValueError, match="seq"):
        p.lead({"lead_id": "L-1", "team": "north"})


def test_error_temporary_defaults_by_code() -> None:
    assert p.error(p.ErrorCode.UNAVAILABLE, "redis down")["temporary"] is True
    assert p.error(p.ErrorCode.BAD_FRAME, "nope")["temporary"] is False
    assert p.error(p.ErrorCode.INTERNAL, "oops", temporary=True)["temporary"] is True


def test_protocol_error_frame() -> None:
    exc = p.ProtocolError(p.ErrorCode.UNKNOWN_TYPE, "unknown type")
    assert exc.frame() == {
        "type": "error",
        "code": "unknown_type",
        "message": "unknown type",
        "temporary": False,
    }


def test_json_encode_refuses_nan() -> None:
    with pytest.raises(ValueError):
        p.encode({"type": "lead", "value": float("nan")}, p.Codec.JSON)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("data", ["{", "", "nul", '{"type":"claim",}', "[" * 100_000])
def test_malformed_json(data: str) -> None:
    err = bad(data, p.Codec.JSON)
    assert err.code is p.ErrorCode.BAD_FRAME
    assert "malformed JSON" in err.message


@pytest.mark.parametrize(
    "data",
    [b"", b"\xc1", b"\x92\x01", b"\x81\xa4type", b"\x81\xa4type\xa5hello\x00", b"\x91" * 100_000],
)
def test_malformed_msgpack(data: bytes) -> None:
    err = bad(data, p.Codec.MSGPACK)
    assert err.code is p.ErrorCode.BAD_FRAME
    assert "malformed msgpack" in err.message


def test_msgpack_invalid_utf8_string() -> None:
    assert bad(b"\x81\xa4type\xa2\xff\xfe", p.Codec.MSGPACK).code is p.ErrorCode.BAD_FRAME


def test_msgpack_non_string_map_keys() -> None:
    err = bad(msgpack.packb({1: "claim"}), p.Codec.MSGPACK)
    assert err.code is p.ErrorCode.BAD_FRAME


def test_binary_frame_on_json_codec() -> None:
    err = bad(b'{"type":"hello","token":"t"}', p.Codec.JSON)
    assert (err.code, "text frames" in err.message) == (p.ErrorCode.BAD_FRAME, True)


def test_text_frame_on_msgpack_codec() -> None:
    err = bad('{"type":"hello","token":"t"}', p.Codec.MSGPACK)
    assert (err.code, "binary frames" in err.message) == (p.ErrorCode.BAD_FRAME, True)


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("value", [[1, 2], "hello", 42, None, True])
def test_non_map_frame(value: Any, codec: p.Codec) -> None:
    data = json.dumps(value) if codec == p.Codec.JSON else msgpack.packb(value)
    err = bad(data, codec)
    assert err.code is p.ErrorCode.BAD_FRAME
    assert "must be a map" in err.message


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("frame", [{}, {"token": "t"}, {"type": 1}, {"type": None}])
def test_missing_or_mistyped_type(frame: dict[str, Any], codec: p.Codec) -> None:
    err = bad(wire(frame, codec), codec)
    assert err.code is p.ErrorCode.BAD_FIELD
    assert err.message.startswith("frame.type: expected a string")


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("kind", ["zap", "welcome", "HELLO", ""])
def test_unknown_type(kind: str, codec: p.Codec) -> None:
    err = bad(wire({"type": kind}, codec), codec)
    assert err.code is p.ErrorCode.UNKNOWN_TYPE
    assert json.dumps(kind) in err.message
    assert "claim, close, followup, hello, pause, release, resume" in err.message


BAD_FIELDS = [
    ({"type": "hello"}, "hello.token: missing; expected a non-empty token string"),
    (
        {"type": "hello", "token": ""},
        'hello.token: expected a non-empty token string of at most 4096 characters, got ""',
    ),
    ({"type": "hello", "token": 7}, "hello.token: expected a non-empty token string of at most"),
    ({"type": "hello", "token": "t" * 4097}, "got a string of 4097 characters"),
    ({"type": "hello", "token": "t", "resume": "latest"}, "hello.resume: expected a stream entry"),
    ({"type": "hello", "token": "t", "resume": 17}, "hello.resume: expected a stream entry"),
    ({"type": "claim", "lead_id": "L"}, "claim.req_id: missing; expected a non-empty string"),
    (
        {"type": "claim", "req_id": "r", "lead_id": 42},
        "claim.lead_id: expected a non-empty string of at most 128 characters from A-Z a-z 0-9"
        " _ . : -, got 42",
    ),
    ({"type": "claim", "req_id": True, "lead_id": "L"}, "claim.req_id: expected a non-empty"),
    ({"type": "claim", "req_id": "r", "lead_id": None}, "claim.lead_id: expected a non-empty"),
    ({"type": "claim", "req_id": "r", "lead_id": ["L"]}, 'got ["L"]'),
    ({"type": "claim", "req_id": "r", "lead_id": 1.5}, "claim.lead_id: expected"),
    ({"type": "claim", "req_id": "r" * 65, "lead_id": "L"}, "got a string of 65 characters"),
    ({"type": "claim", "req_id": "r", "lead_id": "L" * 129}, "got a string of 129 characters"),
    ({"type": "claim", "req_id": "", "lead_id": "L"}, "claim.req_id: expected"),
    (
        {"type": "claim", "req_id": "r", "lead_id": "L", "rep": 5},
        "claim.rep: expected the claiming",
    ),
    ({"type": "claim", "req_id": "r", "lead_id": "L", "rep": ""}, "claim.rep: expected"),
    ({"type": "followup", "lead_id": "L", "note": "n" * 2001}, "followup.note: expected"),
    ({"type": "followup", "lead_id": "L", "note": 3}, "followup.note: expected a string"),
    ({"type": "release"}, "release.lead_id: missing"),
    ({"type": "close", "lead_id": "L"}, 'close.outcome: missing; expected "won" or "lost"'),
    ({"type": "close", "lead_id": "L", "outcome": "meh"}, 'expected "won" or "lost", got "meh"'),
]


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize(("frame", "message"), BAD_FIELDS)
def test_bad_field(frame: dict[str, Any], message: str, codec: p.Codec) -> None:
    err = bad(wire(frame, codec), codec)
    assert err.code is p.ErrorCode.BAD_FIELD
    assert message in err.message


def test_msgpack_binary_where_string_expected() -> None:
    data = msgpack.packb({"type": "claim", "req_id": "r", "lead_id": b"L-1"}, use_bin_type=True)
    err = bad(data, p.Codec.MSGPACK)
    assert (err.code, err.message.endswith("got binary data")) == (p.ErrorCode.BAD_FIELD, True)


def test_long_bad_values_are_shortened() -> None:
    err = bad(
        wire({"type": "claim", "req_id": "r", "lead_id": list(range(100))}, p.Codec.JSON),
        p.Codec.JSON,
    )
    assert err.message.endswith("...")
    assert len(err.message) < 200


@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    with contextlib.suppress(p.ProtocolError):
        p.decode_client(data, p.Codec.MSGPACK)


@given(st.text(max_size=200))
def test_any_text_decodes_or_raises_protocol_error(data: str) -> None:
    with contextlib.suppress(p.ProtocolError):
        p.decode_client(data, p.Codec.JSON)
