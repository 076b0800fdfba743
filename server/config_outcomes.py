"""Config of complaints and their penalties: a team's categories and appeal window, and the
`complaint_penalties` rule (category -> cooldown, pause, points) layered team -> tier -> rep."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

_CATEGORY = r"^[a-z0-9_]{1,32}$"
Category = Annotated[str, Field(pattern=_CATEGORY)]
DEFAULT_CATEGORIES = ("rude", "no_contact", "misinformation", "duplicate_contact")
WEEK_MS = 7 * 86_400_000


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Penalty(_Frozen):
    """What an upheld complaint of one category costs the rep: a penalty cooldown (from the
    ruling), a temporary pause of offers, and score points (read by the scorecard)."""

    cooldown_ms: Annotated[int, Field(ge=0)] = 0
    pause_ms: Annotated[int, Field(ge=0)] = 0
    points: Annotated[float, Field(ge=0, strict=False)] = 0.0


Penalties = dict[Category, Penalty]


class ComplaintConfig(_Frozen):
    """`[teams.<t>.complaints]`: the categories a complaint may name and how long a rep has to
    appeal an upheld one."""

    categories: Annotated[tuple[Category, ...], Field(strict=False, min_length=1)] = \
        DEFAULT_CATEGORIES
    appeal_window_ms: Annotated[int, Field(ge=0)] = WEEK_MS


def layered(base: Mapping[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A rule override's changes with `complaint_penalties` merged by category over the base
    (a tier or rep names only the categories it changes); every other rule replaces."""
    table = changes.get("complaint_penalties")
    if table is not None:
        changes["complaint_penalties"] = {**base.get("complaint_penalties", {}), **table}
    return changes


def unknown_categories(where: str, table: Mapping[str, Penalty] | None,
                       known: Iterable[str]) -> str | None:
    """A message naming the first penalty category not among `known`, else None."""
    names = set(known)
    for category in table or {}:
        if category not in names:
            listed = ", ".join(sorted(names))
            return (f"{where}.complaint_penalties: unknown category {category!r} "
                    f"(expected one of: {listed})")
    return None
