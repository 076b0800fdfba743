"""The store's read for a returning rep: which open leads they may claim now."""

from __future__ import annotations

from server.store.return_keys import claimable_call
from server.store.session import Session


class ReturnReads(Session):
    """claimable_leads.lua: the claim's own checks over a page of open leads, writing nothing."""

    async def claimable(self, team: str, rep: str, lead_ids: list[str]) -> list[str]:
        """Those of `lead_ids` (in order) the rep may claim now; cooldowns aside."""
        if not lead_ids:
            return []
        call = claimable_call(team, rep, lead_ids, self.now_arg())
        found: list[str] = await self._run(self._scripts.claimable_leads, call)
        return list(found)
