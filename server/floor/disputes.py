"""Internal disputes (撞单): a rep claims a held lead's customer is theirs; a manager keeps the
lead with its holder or reassigns it, with the customer's ownership, to the disputing rep."""

from __future__ import annotations

from typing import Any

from server.contracts.reasons import Reason
from server.contracts.results import OutcomeStep
from server.contracts.statuses import Status
from server.floor.arbiter import Arbiter
from server.floor.complaints import dispute_view

DECISIONS = ("keep", "reassign")


class Disputes:
    """Filing and resolving disputes, each one atomic script."""

    def __init__(self, arbiter: Arbiter) -> None:
        self.arbiter = arbiter

    async def file(self, rep_id: str, ref: str, lead_id: str, evidence: str) -> OutcomeStep:
        """The rep disputes a lead of their team that another rep holds."""
        member = self.arbiter.member(rep_id)
        if member is None:
            return OutcomeStep(Status.REJECTED, Reason.INELIGIBLE)
        return await self.arbiter.store.file_dispute(member.team, ref, lead_id, rep_id, evidence)

    async def resolve(self, team: str, ref: str, decision: str, actor: str,
                      reason: str) -> OutcomeStep:
        """A manager keeps or reassigns; resolved once."""
        return await self.arbiter.store.resolve_dispute(team, ref, decision, actor, reason)

    async def view(self, team: str, ref: str) -> dict[str, Any] | None:
        """One dispute's view, or None if unknown."""
        found = await self.arbiter.store.dispute_fields(team, ref)
        return dispute_view(ref, team, found) if found else None
