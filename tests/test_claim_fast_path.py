"""The claim frame's fast path in `decode_client` answers exactly as the pydantic validator:
the same Claim for a good frame, the same error code and message for a bad one."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server import protocol as p
from server.protocol import client_frames
from tests.frame_strategies import client_frames as fuzzed_frames

Outcome = tuple[str, Any]
NEVER = re.compile("(?!)")  # matches nothing: every frame takes parse and the validator
CORPUS: list[Any] = [
    {"type": "claim", "req_id": "r1", "lead_id": "L-1"},
    {"type": "claim", "req_id": "r" * 64, "lead_id": "L" * 128},
    {"type": "claim", "req_id": "r" * 65, "lead_id": "L"},
    {"type": "claim", "req_id": "r", "lead_id": "L" * 129},
    {"type": "claim", "req_id": "", "lead_id": "L"},
    {"type": "claim", "req_id": "r", "lead_id": ""},
    {"type": "claim", "req_id": "r\n", "lead_id": "L"},
    {"type": "claim", "req_id": "r", "lead_id": "L\n"},
    {"type": "claim", "req_id": "r:1", "lead_id": "a:b.c_d-e"},
    {"type": "claim", "req_id": "r é", "lead_id": "L"},
    {"type": "claim", "req_id": "r", "lead_id": "Lé"},
    {"type": "claim", "req_id": "r", "lead_id": "L\u0661"},
    {"type": "claim", "req_id": 1, "lead_id": "L"},
    {"type": "claim", "req_id": "r", "lead_id": 7},
    {"type": "claim", "req_id": None, "lead_id": "L"},
    {"type": "claim", "req_id": "r", "lead_id": ["L"]},
    {"type": "claim", "req_id": "r", "lead_id": True},
    {"type": "claim", "req_id": "r"},
    {"type": "claim", "lead_id": "L"},
    {"type": "claim"},
    {"type": "claim", "req_id": "r", "lead_id": "L", "rep": "r001"},
    {"type": "claim", "req_id": "r", "lead_id": "L", "rep": None},
    {"type": "claim", "req_id": "r", "lead_id": "L", "rep": "bad rep"},
    {"type": "claim", "req_id": "r", "lead_id": "L", "future": [1, 2]},
    {"type": "Claim", "req_id": "r", "lead_id": "L"},
    {"type": "release", "req_id": "r", "lead_id": "L"},
    {"type": "claim", "req_id": "r", "lead_id": "L", "x": {"a": {"b": {"c": {"d": {}}}}}},
]
RAW_JSON = [
    '{"type":"claim","req_id":"r","lead_id":"L","req_id":"r2"}',
    '{"type":"claim","req_id":"\\ud800","lead_id":"L"}',
    '{"type":"claim","req_id":"r","lead_id":"L\\u0000"}',
    '{"type":"claim","req_id":"r","lead_id":"L\\n"}',
    '{"type":"claim","req_id":"r","lead_id":"L"} ',
    '{"type":"claim","req_id":"r","lead_id":"L",}',
    '{"type": "claim", "req_id": "r", "lead_id": "L"}',
    '{"type":"claim","req_id":"r","lead_id":"L"}\n',
    '{"type":"claim", "req_id":"r",  "lead_id":"L"}',
    '{"lead_id":"L","type":"claim","req_id":"r"}',
    '{"type":"claim","req_id":"r","lead_id":"L","rep":"r1"}',
    '{"type":"claim","req_id":"r\\u0041","lead_id":"L"}',
    '{"type":"claim","req_id":"r","lead_id":"L\\""}',
    '{"type":"claim","req_id":"","lead_id":"L"}',
    '{"type":"claim","req_id":"r","lead_id":"' + "L" * 129 + '"}',
    '{"type":"claim","req_id":"' + "r" * 65 + '","lead_id":"L"}',
    '{"type":"claim","req_id":"r\u00e9","lead_id":"L"}',
]


def outcome(decode: Callable[[str | bytes, p.Codec], p.ClientFrame], data: str | bytes,
            codec: p.Codec) -> Outcome:
    try:
        frame = decode(data, codec)
    except p.ProtocolError as exc:
        return "error", (exc.code, exc.message)
    return type(frame).__name__, (frame.model_dump(), frame.model_fields_set, frame.to_wire())


def both(data: str | bytes, codec: p.Codec, monkeypatch: pytest.MonkeyPatch) -> Outcome:
    fast = outcome(p.decode_client, data, codec)
    with monkeypatch.context() as patched:
        patched.setattr(client_frames, "_PLAIN_CLAIM", NEVER)
        full = outcome(p.decode_client, data, codec)
    assert fast == full
    return fast


def encoded(frame: Any, codec: p.Codec) -> str | bytes:
    return json.dumps(frame) if codec == p.Codec.JSON else msgpack.packb(frame)


@pytest.mark.parametrize("codec", list(p.Codec))
@pytest.mark.parametrize("frame", CORPUS, ids=lambda f: json.dumps(f, ensure_ascii=True)[:60])
def test_the_fast_path_agrees_with_the_validator(frame: Any, codec: p.Codec,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    both(encoded(frame, codec), codec, monkeypatch)


@pytest.mark.parametrize("data", RAW_JSON)
def test_the_fast_path_agrees_on_raw_json(data: str, monkeypatch: pytest.MonkeyPatch) -> None:
    both(data, p.Codec.JSON, monkeypatch)


def test_a_plain_claim_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    data = '{"type":"claim","req_id":"r1","lead_id":"L-1"}'
    assert client_frames._PLAIN_CLAIM.fullmatch(data) is not None
    assert client_frames._PLAIN_CLAIM.fullmatch(data.replace("L-1", "L 1")) is None
    monkeypatch.setattr(client_frames, "parse", None)  # the fast path never parses
    claim = p.decode_client(data, p.Codec.JSON)
    assert claim == p.Claim(req_id="r1", lead_id="L-1")
    assert claim.model_fields_set == {"req_id", "lead_id"} and claim.rep is None


@settings(max_examples=300, deadline=None)
@given(data=st.data(), codec=st.sampled_from(list(p.Codec)))
def test_fuzzed_frames_get_the_same_answer(data: st.DataObject, codec: p.Codec) -> None:
    frame = data.draw(fuzzed_frames("a-token", codec))
    with pytest.MonkeyPatch.context() as monkeypatch:
        both(frame, codec, monkeypatch)
