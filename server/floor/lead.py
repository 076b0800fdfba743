"""A lead as integrations publish it: validated attributes and its public wire payload."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from server.protocol.limits import (
    CUSTOMER_CHARS,
    LABEL_CHARS,
    LEAD_ID,
    LEAD_ID_RULE,
    REP_ID,
    REP_ID_RULE,
    TEXT,
)

# Numbers Lua's cjson reads back exactly: integers within ±2^53, finite floats.
Scalar = (bool | Annotated[int, Field(ge=-(2**53), le=2**53)]
          | Annotated[float, Field(allow_inf_nan=False)] | Annotated[str, Field(pattern=TEXT)])
LeadId = Annotated[str, Field(pattern=LEAD_ID)]
Label = Annotated[str, Field(min_length=1, max_length=LABEL_CHARS, pattern=TEXT)]


class LeadError(ValueError):
    """A lead failed validation; the message names the field and what was expected."""


class NewLead(BaseModel):
    """A lead to publish. `id` makes publishing idempotent; one is generated if absent."""

    # strict: `"value": "5000"` or `"priority": true` is refused, not quietly converted
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: LeadId = Field(default_factory=lambda: uuid.uuid4().hex)
    team: Annotated[str, Field(pattern=REP_ID)]
    value: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    priority: Annotated[int, Field(ge=0, le=9)] = 0
    region: Annotated[str, Field(max_length=LABEL_CHARS, pattern=TEXT)] = ""
    skills: Annotated[tuple[Label, ...], Field(max_length=16, strict=False)] = ()
    customer_id: Annotated[str, Field(max_length=CUSTOMER_CHARS, pattern=TEXT)] = ""
    attrs: dict[Label, Scalar] = {}

    @field_validator("attrs")
    @classmethod
    def _small_attrs(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        if len(value) > 32 or len(json.dumps(value)) > 4096:
            raise ValueError("at most 32 attributes and 4 KiB of JSON")
        return value

    def payload(self, mode: str, window_ms: int = 0, policy: str = "") -> dict[str, Any]:
        """The public fields every eligible rep receives (seq is added by the stream)."""
        body: dict[str, Any] = {
            "lead_id": self.id, "team": self.team, "value": self.value,
            "priority": self.priority, "region": self.region, "skills": list(self.skills),
            "mode": mode, "customer_id": self.customer_id, "attrs": self.attrs,
        }
        if mode == "window":
            body.update(window_ms=window_ms, window_policy=policy)
        return body


def parse_lead(raw: Any) -> NewLead:
    """Validate untrusted input into a NewLead, or raise LeadError with a readable message."""
    try:
        return NewLead.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = [str(p) for p in first["loc"]]
        if loc[:1] == ["attrs"] and len(loc) > 2:  # a union's branch: name the whole choice
            message, loc = _ATTR_VALUE, loc[:2]
        elif first["type"] == "string_pattern_mismatch":
            message = _PATTERNS.get(loc[0] if loc else "", _TEXT_RULE)
        else:
            message = first["msg"].replace("valid tuple", "valid array")
        if first["type"] != "missing":
            message += f" (got {_shown(first['input'])})"
        raise LeadError(f"{'.'.join(loc) or 'lead'}: {message}") from None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


_TEXT_RULE = "expected text without control characters (tab and line breaks allowed)"
_ATTR_VALUE = (f"expected {_TEXT_RULE[9:]}, true or false, an integer within ±2^53 or a "
               "finite number")
_PATTERNS = {"id": f"expected {LEAD_ID_RULE}", "team": f"expected {REP_ID_RULE}"}
