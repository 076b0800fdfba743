"""Frames a client sends: validated pydantic models, and `decode_client`."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.protocol.codec import parse, show
from server.protocol.codes import Codec, ErrorCode, Frame, ProtocolError
from server.protocol.limits import (
    LEAD_ID,
    LEAD_ID_RULE,
    NOTE_CHARS,
    REP_ID,
    REP_ID_RULE,
    REQ_ID,
    REQ_ID_RULE,
    TEXT,
)

_LEAD_ID = LEAD_ID_RULE
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
        min_length=1, max_length=64, pattern=REQ_ID, description=REQ_ID_RULE
    )
    lead_id: str = Field(min_length=1, max_length=128, pattern=LEAD_ID, description=_LEAD_ID)
    rep: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=REP_ID,
        description=f"the claiming rep's id ({REP_ID_RULE}), or null",
    )


class Followup(_ClientFrame):
    TYPE: ClassVar[str] = "followup"
    lead_id: str = Field(min_length=1, max_length=128, pattern=LEAD_ID, description=_LEAD_ID)
    note: str | None = Field(
        default=None,
        max_length=NOTE_CHARS,
        pattern=TEXT,
        description=f"a string of at most {NOTE_CHARS} characters (no control characters but tab "
        "and line breaks), or null",
    )


class Release(_ClientFrame):
    TYPE: ClassVar[str] = "release"
    lead_id: str = Field(min_length=1, max_length=128, pattern=LEAD_ID, description=_LEAD_ID)


class Close(_ClientFrame):
    TYPE: ClassVar[str] = "close"
    lead_id: str = Field(min_length=1, max_length=128, pattern=LEAD_ID, description=_LEAD_ID)
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
    plain = _PLAIN_CLAIM.fullmatch(data) if type(data) is str else None
    if plain is not None:
        return _claim(plain["req_id"], plain["lead_id"])
    raw = parse(data, codec)
    model = _CLIENT_FRAMES.get(raw["type"])
    if model is None:
        known = ", ".join(sorted(_CLIENT_FRAMES))
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE, f"unknown type {show(raw['type'])}; expected one of {known}"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _field_error(model, exc) from None


# The most common frame, as every client writes it (compact or with json.dumps' spaces): ids
# from their documented characters, lengths within bounds, nothing escaped, nothing nested.
# Such text is a valid claim by construction; any other text takes `parse` and the validator.
_PLAIN_CLAIM = re.compile(
    r'\{"type": ?"claim", ?"req_id": ?"(?P<req_id>[A-Za-z0-9_.-]{1,64})", ?'
    r'"lead_id": ?"(?P<lead_id>[A-Za-z0-9_.:-]{1,128})"\}'
)


def _claim(req_id: str, lead_id: str) -> Claim:
    """A Claim built as `model_validate` builds it for these two fields (with `rep` None),
    without pydantic's validation: `_PLAIN_CLAIM` has checked them."""
    claim = object.__new__(Claim)
    _set(claim, "__dict__", {"req_id": req_id, "lead_id": lead_id, "rep": None})
    _set(claim, "__pydantic_fields_set__", {"req_id", "lead_id"})
    _set(claim, "__pydantic_extra__", None)
    _set(claim, "__pydantic_private__", None)
    return claim


_set = object.__setattr__


def _field_error(model: type[ClientFrame], exc: ValidationError) -> ProtocolError:
    problem = exc.errors(include_url=False)[0]
    name = str(problem["loc"][0]) if problem["loc"] else "?"
    field = model.model_fields.get(name)
    expected = field.description if field and field.description else problem["msg"]
    where = f"{model.TYPE}.{name}"
    if problem["type"] == "missing":
        return ProtocolError(ErrorCode.BAD_FIELD, f"{where}: missing; expected {expected}")
    got = show(problem["input"])
    return ProtocolError(ErrorCode.BAD_FIELD, f"{where}: expected {expected}, got {got}")
