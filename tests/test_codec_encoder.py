"""The JSON encoder built once writes what `json.JSONEncoder.encode` writes, errors included."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.protocol import codec
from server.protocol.codes import Codec

SCALARS = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False,
                                                                            allow_infinity=False)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)


def test_this_python_gets_the_encoder_built_once() -> None:
    assert codec._C_ENCODER is not None


@given(st.dictionaries(st.text(max_size=8), VALUES, max_size=6))
def test_frames_are_encoded_as_by_the_json_encoder(frame: dict[str, Any]) -> None:
    assert codec.encode(frame, Codec.JSON) == codec._JSON.encode(frame)


@pytest.mark.parametrize(("value", "error"), [(math.nan, ValueError), (math.inf, ValueError),
                                              (object(), TypeError), ({1j: 1}, TypeError)])
def test_what_cannot_be_encoded_fails_alike(value: object, error: type[Exception]) -> None:
    with pytest.raises(error) as ours:
        codec.encode({"x": value}, Codec.JSON)
    with pytest.raises(error) as theirs:
        codec._JSON.encode({"x": value})
    assert str(ours.value) == str(theirs.value)


def test_without_the_c_encoder_frames_go_the_long_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "_C_ENCODER", None)
    assert codec.encode({"type": "x", "v": [1.5, "é"]}, Codec.JSON) == '{"type":"x","v":[1.5,"é"]}'
