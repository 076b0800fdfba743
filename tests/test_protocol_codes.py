"""Wire protocol codes: codecs, subprotocols, close codes, error codes (and their docs)."""

from __future__ import annotations

import re

import pytest

from server import protocol as p
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("name", "codec"),
    [
        (None, p.Codec.JSON),
        ("", p.Codec.JSON),
        (p.SUBPROTOCOL_JSON, p.Codec.JSON),
        (p.SUBPROTOCOL_MSGPACK, p.Codec.MSGPACK),
    ],
)
def test_codec_for_subprotocol(name: str | None, codec: p.Codec) -> None:
    assert p.Codec.for_subprotocol(name) is codec
    assert p.Codec.for_subprotocol(codec.subprotocol) is codec


def test_codec_for_unknown_subprotocol() -> None:
    with pytest.raises(ValueError, match=r"leadgrab\.v2\.json"):
        p.Codec.for_subprotocol("leadgrab.v2.json")


def test_subprotocol_names() -> None:
    assert p.SUBPROTOCOLS == ("leadgrab.v1.json", "leadgrab.v1.msgpack")
    assert p.PROTOCOL_VERSION == 1


@pytest.mark.parametrize(
    ("code", "reconnect"),
    [
        (p.CloseCode.AUTH_FAILED, False),
        (p.CloseCode.PROTOCOL_ERROR, False),
        (p.CloseCode.MESSAGE_TOO_BIG, False),
        (p.CloseCode.HELLO_TIMEOUT, True),
        (p.CloseCode.SLOW_CONSUMER, True),
        (p.CloseCode.GOING_AWAY, True),
        (p.CloseCode.SERVER_RESTART, True),
        (1000, False),
        (1006, True),
        (1011, True),
        (4100, True),
        (4600, False),
    ],
)
def test_should_reconnect(code: int, reconnect: bool) -> None:
    assert p.should_reconnect(code) is reconnect


def test_close_code_values_are_fixed() -> None:
    assert {c.name: c.value for c in p.CloseCode} == {
        "GOING_AWAY": 1001,
        "MESSAGE_TOO_BIG": 1009,
        "AUTH_FAILED": 4001,
        "PROTOCOL_ERROR": 4002,
        "HELLO_TIMEOUT": 4003,
        "SLOW_CONSUMER": 4004,
        "SERVER_RESTART": 4005,
    }


def test_error_code_values_are_fixed() -> None:
    assert {c.value for c in p.ErrorCode} == {
        "bad_frame",
        "unknown_type",
        "bad_field",
        "too_large",
        "auth_failed",
        "forbidden",
        "not_authenticated",
        "unavailable",
        "internal",
        "bad_request",
        "not_found",
        "method_not_allowed",
        "invalid_config",
        "bad_json",
    }


def test_every_error_code_is_documented_with_its_temporary_flag() -> None:
    doc = (ROOT / "docs" / "protocol.md").read_text().split("## Error codes", 1)[1]
    rows = dict(re.findall(r"^\| `(\w+)` \|.*?\| (yes|no) \|", doc, re.MULTILINE))
    assert rows == {code.value: "yes" if p.error_body(code, "")["temporary"] else "no"
                    for code in p.ErrorCode}


def test_error_frame_and_http_body_share_one_shape() -> None:
    body = p.error_body(p.ErrorCode.UNAVAILABLE, "retry")
    assert body == {"code": "unavailable", "message": "retry", "temporary": True}
    assert p.error(p.ErrorCode.UNAVAILABLE, "retry") == {"type": "error", **body}
    refused = p.ProtocolError(p.ErrorCode.BAD_FIELD, "claim.lead_id: missing")
    assert refused.frame() == p.error(p.ErrorCode.BAD_FIELD, "claim.lead_id: missing")
