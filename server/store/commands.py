"""Every atomic command: one typed wrapper per Lua script, its reply parsed into a result."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from typing import Any

from server.contracts.reasons import Reason, outcome_of, reason_of
from server.contracts.results import (
    ActionResult,
    ClaimResult,
    Done,
    LeadRefs,
    PublishResult,
    RulesLoad,
    Settlement,
)
from server.contracts.statuses import Status
from server.contracts.timer_members import TimerMember
from server.store import keys
from server.store.faults import StoreError
from server.store.keys import ScriptCall
from server.store.session import STALE_RETRIES, Session


class Commands(Session):
    """The scripts, run atomically in Redis; never read-modify-write in Python.

    Scripts that act on a lead's holder or customer take them as arguments (their keys must
    be in KEYS) and answer 'stale' if the lead changed since it was read; the wrapper reads
    the lead again and retries.
    """

    async def load_rules(self, team: str, digest: str, team_json: str,
                         day_rows: list[tuple[str, int]],
                         rep_rows: list[tuple[str, str, str]]) -> RulesLoad:
        call = keys.load_rules_call(team, digest, team_json, day_rows, rep_rows,
                                    self.retention.audit_maxlen, self.now_arg())
        version, changed = await self._run(self._scripts.load_rules, call)
        return RulesLoad(team, int(version), bool(changed))

    async def publish(self, team: str, lead_id: str, payload_json: str, actor: str,
                      policy_json: str = "{}", customer_id: str = "") -> PublishResult:
        for _ in range(STALE_RETRIES):
            holder = await self._customer_holder(team, customer_id) if customer_id else ""
            call = keys.publish_call(team, lead_id, payload_json, self.retention,
                                     self.now_arg(), actor, policy_json, holder, customer_id)
            status, seq = await self._run(self._scripts.publish_lead, call)
            if Status(status) is not Status.STALE:
                self._remember_customer(team, lead_id, customer_id)
                return PublishResult(lead_id, seq, status != Status.DUPLICATE,
                                     status == Status.ASSIGNED)
        raise StoreError(f"customer {customer_id} kept changing; try again", temporary=True)

    async def _customer_holder(self, team: str, customer_id: str) -> str:
        found = await self._call(self._redis.hget(keys.customer(team, customer_id), "holder"))
        return found or ""

    def claim(self, team: str, rep: str, lead_id: str,
              req_id: str) -> asyncio.Future[ClaimResult]:
        """Decide a claim: a future set from the batch's reply, no coroutine per claim. The
        lead's customer is the one remembered; if that guess is wrong (the script answers
        stale), the lead is read and the claim run again."""
        call = self._claim_calls.call(team, rep, lead_id, req_id, self.now_arg(),
                                      self._customers.get((team, lead_id), ""))
        return self._run(self._scripts.claim_lead, call,
                         partial(self._claimed, team, rep, lead_id, req_id))

    def _claimed(self, team: str, rep: str, lead_id: str, req_id: str, reply: list[Any],
                 future: asyncio.Future[ClaimResult]) -> None:
        if reply[0] != Status.STALE:
            future.set_result(parse_claim(lead_id, req_id, reply))
            return

        def build(r: LeadRefs) -> ScriptCall:
            return self._claim_calls.call(team, rep, lead_id, req_id, self.now_arg(),
                                          r.customer_id)

        async def again() -> ClaimResult:
            reply = await self._with_lead(team, lead_id, self._scripts.claim_lead, build)
            return parse_claim(lead_id, req_id, reply)

        self._settle_later(future, again())

    async def release(self, team: str, rep: str, lead_id: str) -> ActionResult:
        def build(r: LeadRefs) -> ScriptCall:
            return keys.release_call(team, rep, lead_id, self.retention, self.now_arg(),
                                     r.customer_id)

        status, reason, seq = await self._with_lead(team, lead_id, self._scripts.release_lead,
                                                    build)
        return ActionResult(lead_id, Status(status) is Status.OK, _reason(reason), seq or None)

    async def close(self, team: str, rep: str, lead_id: str, outcome: str) -> ActionResult:
        def build(r: LeadRefs) -> ScriptCall:
            return keys.close_call(team, rep, lead_id, outcome, self.retention, self.now_arg(),
                                   r.customer_id)

        status, reason = await self._with_lead(team, lead_id, self._scripts.close_lead, build)
        return ActionResult(lead_id, Status(status) is Status.OK, _reason(reason))

    async def followup(self, team: str, rep: str, lead_id: str, note: str) -> ActionResult:
        call = keys.followup_call(team, rep, lead_id, note, self.retention, self.now_arg())
        status, reason, deadline = await self._run(self._scripts.followup_lead, call)
        return ActionResult(lead_id, Status(status) is Status.OK, _reason(reason),
                            deadline_ms=int(deadline) or None)

    async def settle(self, team: str, lead_id: str) -> Settlement:
        """Settle a lead's window if it is due; re-reads the candidates if they changed."""
        for _ in range(STALE_RETRIES):
            async with self._pipeline() as pipe:
                pipe.hgetall(keys.candidates(team, lead_id))
                pipe.hget(keys.lead(team, lead_id), "customer_id")
                raw, customer = await pipe.execute()
            reps = sorted(rep for rep, entry in raw.items() if '"result"' not in entry)
            call = keys.settle_call(team, lead_id, reps, self.retention, self.now_arg(),
                                    customer or "", self.seed_arg(team, lead_id))
            status, detail, *rest = await self._run(self._scripts.settle_window, call)
            if Status(status) is not Status.STALE:
                results = (json.loads(rest[0]) or {}) if rest else {}
                return Settlement(lead_id, Status(status), detail, results)
        return Settlement(lead_id, Status.STALE, "")

    async def dispatch(self, team: str, lead_id: str, rep: str, actor: str, *,
                       force: bool, reason: str) -> Done:
        """Assign an open lead to a rep, or reassign a held one (needs a reason)."""
        def build(r: LeadRefs) -> ScriptCall:
            return keys.dispatch_call(team, lead_id, rep, actor, force, reason, r.holder,
                                      r.customer_id, self.retention, self.now_arg())

        return _done(await self._with_lead(team, lead_id, self._scripts.dispatch_lead, build))

    async def withdraw(self, team: str, lead_id: str, actor: str, reason: str) -> Done:
        """Take a lead off the floor for good."""
        def build(r: LeadRefs) -> ScriptCall:
            return keys.withdraw_call(team, lead_id, actor, reason, r.holder, r.customer_id,
                                      self.retention, self.now_arg())

        return _done(await self._with_lead(team, lead_id, self._scripts.withdraw_lead, build))

    async def pause(self, team: str, rep: str, paused: bool, actor: str) -> Done:
        """Pause (out of office) or resume a rep."""
        call = keys.pause_call(team, rep, paused, actor, self.retention, self.now_arg())
        status, detail, _changed = await self._run(self._scripts.pause_rep, call)
        return Done(Status(status), detail)

    async def fire_deadline(self, team: str, timer: TimerMember) -> Done:
        """A 'warn:' or 'deadline:' timer: warn the holder or recycle the lead."""
        def build(r: LeadRefs) -> ScriptCall:
            return keys.deadline_call(team, str(timer), timer.lead_id, r.holder, r.customer_id,
                                      self.retention, self.now_arg())

        return _done(await self._with_lead(team, timer.lead_id, self._scripts.fire_deadline,
                                           build))

    async def offer(self, team: str, timer: TimerMember) -> Done:
        """An 'open:' or 'stage:' timer: offer the lead to its next audience."""
        call = keys.offer_call(team, str(timer), timer.lead_id, self.retention, self.now_arg())
        return _done(await self._run(self._scripts.offer_lead, call))

    async def auto_assign(self, team: str, lead_id: str, policy: str, reps: list[str]) -> Done:
        """An 'auto:' timer: assign the lead by policy among `reps` if nobody claimed it."""
        def build(r: LeadRefs) -> ScriptCall:
            return keys.auto_assign_call(team, lead_id, policy, r.customer_id, sorted(reps),
                                         self.retention, self.now_arg(),
                                         self.seed_arg(team, lead_id))

        return _done(await self._with_lead(team, lead_id, self._scripts.auto_assign, build))


def _done(reply: list[Any]) -> Done:
    status, detail = reply
    return Done(Status(status), detail)


def _reason(reason: str) -> Reason | None:
    return reason_of(reason) if reason else None


def parse_claim(lead_id: str, req_id: str, reply: list[Any]) -> ClaimResult:
    """Turn claim_lead.lua's reply into a ClaimResult (an unknown code raises ValueError)."""
    result, reason, retry_after_ms, version = reply
    return ClaimResult(lead_id, req_id, outcome_of(result),
                       _reason(reason), int(retry_after_ms) or None, int(version))
