"""A lead as integrations publish it: validated attributes and its public wire payload."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Scalar = str | int | float | bool
LeadId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
Label = Annotated[str, Field(min_length=1, max_length=64)]


class LeadError(ValueError):
    """A lead failed validation; the message names the field and what was expected."""


class NewLead(BaseModel):
    """A lead to publish. `id` makes publishing idempotent; one is generated if absent."""

    # strict: `"value": "5000"` or `"priority": true` is refused, not quietly converted
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: LeadId = Field(default_factory=lambda: uuid.uuid4().hex)
    team: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    value: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    priority: Annotated[int, Field(ge=0, le=9)] = 0
    region: Annotated[str, Field(max_length=64)] = ""
    skills: Annotated[tuple[Label, ...], Field(max_length=16, strict=False)] = ()
    customer_id: Annotated[str, Field(max_length=128)] = ""
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
        loc = ".".join(str(p) for p in first["loc"]) or "lead"
        message = first["msg"].replace("valid tuple", "valid array")
        if first["type"] != "missing":
            message += f" (got {first['input']!r})"
        raise LeadError(f"{loc}: {message}") from None
