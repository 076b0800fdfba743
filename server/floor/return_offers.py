"""The open leads offered to a rep coming back: those they may claim now, missed while away."""

from __future__ import annotations

from collections.abc import Collection

from server.floor.pool import PoolLead, opens_at, parse_cursor, scan, seen_by
from server.floor.roster import Member
from server.store.store import Store

ROUNDS = 4  # pages of the pool one return reads at most (each up to pool.SCAN_MAX entries)


def shown_from(lead: PoolLead, member: Member) -> int:
    """When the lead was (or would have been) offered to `member`: its (re)opening, or the
    end of another rep's owner window or its release stage for the rep's tier if later."""
    return max(lead.opened_ms, opens_at(lead.fields, member, 0) or 0)


async def offers_on_return(store: Store, member: Member, since_ms: int, until_ms: int,
                           skip: Collection[str], limit: int) -> list[PoolLead]:
    """Up to `limit` open leads, newest first, that `member` may claim now (the claim's own
    checks, claimable_leads.lua) and that were offered to them from `since_ms` (while away)
    until before `until_ms` (the return; later ones come live), less the ids in `skip`."""
    def keep(lead: PoolLead) -> bool:
        opens = seen_by(member, lead, until_ms)
        return (lead.lead_id not in skip and opens is not None and opens <= until_ms
                and since_ms <= shown_from(lead, member) < until_ms)

    found: list[PoolLead] = []
    after: tuple[int, str] | None = None
    for _ in range(ROUNDS):
        page, nxt = await scan(store, member.team, keep, limit, after)
        ok = set(await store.claimable(member.team, member.id, [x.lead_id for x in page]))
        found += [lead for lead in page if lead.lead_id in ok][:limit - len(found)]
        if len(found) >= limit or nxt is None:
            break
        after = parse_cursor(nxt)
    return found
