"""The floor's other atomic commands: manager dispatch, withdraw, pause, and timer firings."""

from __future__ import annotations

from dataclasses import dataclass

from server.contracts.results import LeadRefs
from server.store import keys
from server.store.store import Store


@dataclass(frozen=True, slots=True)
class Done:
    """A command's outcome: `status` from the script ('ok', 'rejected', 'recycled', ...),
    `detail` its second field (a reason, a rep, an entry id)."""

    status: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.status not in ("rejected", "stale")


async def dispatch(store: Store, team: str, lead_id: str, rep: str, actor: str, *,
                   force: bool, reason: str) -> Done:
    """Assign an open lead to a rep, or reassign a held one (needs a reason)."""
    def build(r: LeadRefs) -> keys.ScriptCall:
        return keys.dispatch_call(team, lead_id, rep, actor, force, reason, r.holder,
                                  r.customer_id, store.limits, store.now_arg())

    status, detail = await store.with_lead(team, lead_id, store.scripts.dispatch_lead, build)
    return Done(status, detail)


async def withdraw(store: Store, team: str, lead_id: str, actor: str, reason: str) -> Done:
    """Take a lead off the floor for good."""
    def build(r: LeadRefs) -> keys.ScriptCall:
        return keys.withdraw_call(team, lead_id, actor, reason, r.holder, r.customer_id,
                                  store.limits, store.now_arg())

    status, detail = await store.with_lead(team, lead_id, store.scripts.withdraw_lead, build)
    return Done(status, detail)


async def pause(store: Store, team: str, rep: str, paused: bool, actor: str) -> Done:
    """Pause (out of office) or resume a rep."""
    call = keys.pause_call(team, rep, paused, actor, store.limits, store.now_arg())
    status, detail, _changed = await store.run(store.scripts.pause_rep, call)
    return Done(status, detail)


async def fire_deadline(store: Store, team: str, member: str) -> Done:
    """A 'warn:' or 'deadline:' timer: warn the holder or recycle the lead."""
    lead_id = member.partition(":")[2]

    def build(r: LeadRefs) -> keys.ScriptCall:
        return keys.deadline_call(team, member, lead_id, r.holder, r.customer_id,
                                  store.limits, store.now_arg())

    status, detail = await store.with_lead(team, lead_id, store.scripts.fire_deadline, build)
    return Done(status, detail)


async def offer(store: Store, team: str, member: str) -> Done:
    """An 'open:' or 'stage:' timer: offer the lead to its next audience."""
    lead_id = member.partition(":")[2].partition("#")[0]
    call = keys.offer_call(team, member, lead_id, store.limits, store.now_arg())
    status, detail = await store.run(store.scripts.offer_lead, call)
    return Done(status, detail)


async def auto_assign(store: Store, team: str, member: str, policy: str,
                      reps: list[str]) -> Done:
    """An 'auto:' timer: assign the lead by policy if nobody claimed it."""
    lead_id = member.partition(":")[2]

    def build(r: LeadRefs) -> keys.ScriptCall:
        return keys.auto_assign_call(team, lead_id, policy, r.customer_id, sorted(reps),
                                     store.limits, store.now_arg())

    status, detail = await store.with_lead(team, lead_id, store.scripts.auto_assign, build)
    return Done(status, detail)
