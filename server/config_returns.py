"""Coming back: how many open leads a returning rep is offered, and fair catch-up settings."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

DAY_MS = 86_400_000


class Returns(BaseModel):
    """`[teams.<t>.returns]`: a rep coming on shift or resuming is offered up to `offer_max`
    still-open leads they may claim (0: none); a rep new to draws, or back from a pause longer
    than `catchup_after_ms` (0: catch-up off), counts in `least_loaded` comparisons as loaded
    like the contenders' median for `catchup_for_ms` after coming back."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    offer_max: Annotated[int, Field(ge=0, le=1000)] = 20
    catchup_after_ms: Annotated[int, Field(ge=0)] = 0
    catchup_for_ms: Annotated[int, Field(gt=0)] = DAY_MS

    def catching_up(self) -> bool:
        """Whether fair catch-up applies to the team's draws."""
        return self.catchup_after_ms > 0
