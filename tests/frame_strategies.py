"""Hypothesis strategies for WebSocket client frames in both codecs: valid, mutated, hostile."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import msgpack
from hypothesis import strategies as st

from server.protocol import Codec

IDS = st.text("abcXYZ019_.-", min_size=1, max_size=12)
# strings that break naive code: lone surrogates, NUL, controls, long, non-BMP, RTL marks
NASTY_TEXT = st.one_of(
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "\x1b[31m", "\u202e", "😀", "", " ", "%s",
                     "../../etc", "lg:{north}:lead:x", "\r\n"]),
    st.text(max_size=20),
    st.integers(1, 9000).map(lambda n: "x" * n),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), NASTY_TEXT)
ANY_VALUE = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def valid_frames(token: str) -> st.SearchStrategy[dict[str, Any]]:
    """Well-formed frames of every type a client may send."""
    lead = {"lead_id": IDS}
    return st.one_of(
        st.fixed_dictionaries({"type": st.just("hello"), "token": st.just(token)}),
        st.fixed_dictionaries({"type": st.just("claim"), "req_id": IDS, **lead}),
        st.fixed_dictionaries({"type": st.just("release"), **lead}),
        st.fixed_dictionaries({"type": st.just("close"), "outcome": st.sampled_from(
            ["won", "lost"]), **lead}),
        st.fixed_dictionaries({"type": st.just("followup"), "note": st.text(max_size=40),
                               **lead}),
        st.fixed_dictionaries({"type": st.sampled_from(["pause", "resume"])}),
    )


@st.composite
def mutated_frames(draw: st.DrawFn, token: str) -> dict[str, Any]:
    """A valid frame with one field replaced, dropped or added."""
    frame = dict(draw(valid_frames(token)))
    how = draw(st.sampled_from(["replace", "drop", "add", "type"]))
    field = draw(st.sampled_from(sorted(frame)))
    if how == "replace":
        frame[field] = draw(ANY_VALUE)
    elif how == "drop":
        frame.pop(field)
    elif how == "add":
        frame[draw(st.text(max_size=10))] = draw(ANY_VALUE)
    else:
        frame["type"] = draw(st.one_of(NASTY_TEXT, ANY_VALUE))
    return frame


@dataclass(frozen=True)
class Raw:
    """A frame given as the exact text or bytes to send (not a map to encode)."""

    data: str | bytes


def _nested_json(depth: int, opener: str) -> str:
    closer = "]" if opener == "[" else "}"
    inner = opener + ('"a":' if opener == "{" else "")
    return '{"type":"claim","req_id":' + inner * depth + "1" * (opener == "[") \
        + ("null" if opener == "{" else "") + closer * depth + "}"


def _nested_msgpack(depth: int) -> bytes:
    return b"\x82\xa4type\xa5claim\xa6req_id" + b"\x91" * depth + b"\xc0"


@st.composite
def hostile_raw(draw: st.DrawFn, codec: Codec) -> Raw:
    """Input no encoder would produce: deep nesting, bad encodings, wrong kinds, garbage."""
    depth = draw(st.sampled_from([40, 200, 999, 1000, 3000, 20000]))
    if codec is Codec.JSON:
        return Raw(draw(st.one_of(
            st.just(_nested_json(depth, draw(st.sampled_from("[{")))),
            st.just('{"type":"\\ud800"}'),
            st.just('{"type":"claim","req_id":"\\udc00","lead_id":"L1"}'),
            st.just('{"type":"followup","lead_id":"L1","note":"a\\ud83d"}'),
            st.just('{"type":"hello","token":"\\ud800"}'),
            st.sampled_from(["", "null", "[]", "1e999", '"x"', "{", '{"type":1e400}', "NaN",
                             '{"type":"claim"' + "," * 1000 + "}"]),
            st.text(max_size=50),
            st.binary(max_size=50).map(lambda b: b"\x00" + b),  # a binary frame on JSON
        )))
    bad_utf8 = b"\x81\xa4type\xa3\xed\xa0\x80"  # msgpack str holding an encoded surrogate
    return Raw(draw(st.one_of(
        st.just(_nested_msgpack(depth)),
        st.just(bad_utf8),
        st.just(b"\x83\xa4type\xa5claim\xa6req_id\xc4\x02ab\xa7lead_id\xa2L1"),  # bin field
        st.just(b"\x81\x91\x01\xa1x"),  # a map keyed by an array
        st.just(b"\xdf" + struct.pack(">I", 2**31)),  # a map claiming 2^31 entries
        st.just(b"\xc1"),  # the never-used byte
        st.binary(max_size=60),
        st.text(max_size=20),  # a text frame on msgpack
    )))


def encode_any(frame: dict[str, Any], codec: Codec) -> str | bytes:
    """Encode a (possibly hostile) map as a client would: surrogates escaped in JSON, and in
    msgpack sent as the raw bytes a lenient encoder would emit."""
    if codec is Codec.JSON:
        return json.dumps(frame, ensure_ascii=True, default=str)
    packer = msgpack.Packer(use_bin_type=True, unicode_errors="surrogatepass",
                            default=str)
    packed: bytes = packer.pack(frame)
    return packed


def client_frames(token: str, codec: Codec) -> st.SearchStrategy[str | bytes]:
    """Any frame a client (or attacker) might send on a `codec` connection."""
    maps = st.one_of(valid_frames(token), mutated_frames(token))
    return st.one_of(maps.map(lambda f: encode_any(f, codec)),
                     hostile_raw(codec).map(lambda r: r.data))
