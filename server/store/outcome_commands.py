"""The complaint and dispute scripts (issue 13), one typed wrapper each, and their reads."""

from __future__ import annotations

from typing import Any

from server.contracts.results import OutcomeStep
from server.contracts.statuses import Status
from server.store import keys
from server.store import outcome_keys as ok
from server.store.faults import StoreError
from server.store.outcome_keys import DisputeRuling, FeedbackIn
from server.store.session import STALE_RETRIES, Session

MAX_LISTED = 200  # the newest feedback and disputes a lead or rep view lists


def _step(reply: list[Any]) -> OutcomeStep:
    """A reply {status, detail[, state]}: a rejection's detail is its reason."""
    status = Status(reply[0])
    detail = str(reply[1]) if len(reply) > 1 else ""
    state = str(reply[2]) if len(reply) > 2 else ""
    if status is Status.REJECTED:
        return OutcomeStep(status, reason=detail)
    return OutcomeStep(status, rep=detail, state=state)


class OutcomeCommands(Session):
    """Feedback, complaint rulings and appeals, disputes: each one atomic script."""

    async def record_feedback(self, team: str, f: FeedbackIn) -> OutcomeStep:
        """Record a rating or complaint once; it attaches to the rep the script finds."""
        expected = (await self._call(self._redis.hget(keys.lead(team, f.lead_id), "holder"))
                    or "")
        for _ in range(STALE_RETRIES):
            call = ok.feedback_call(team, f, expected, self.retention, self.now_arg())
            reply = await self._run(self._scripts.record_feedback, call)
            if reply[0] != Status.STALE:
                return _step(reply)
            expected = str(reply[1])
        raise StoreError(f"lead {f.lead_id} kept changing; try again", temporary=True)

    async def rule_complaint(self, team: str, ref: str, step: str, decision: str, actor: str,
                             reason: str) -> OutcomeStep:
        """A ruling ('ruling': upheld|dismissed) or an appeal ruling (overturned|rejected)."""
        found = await self.feedback_fields(team, ref)
        call = ok.ruling_call(team, ref, step, decision, actor, reason, found.get("rep", ""),
                              found.get("lead", ""), self.retention, self.now_arg())
        return _step(await self._run(self._scripts.rule_complaint, call))

    async def appeal_complaint(self, team: str, ref: str, rep: str, reason: str) -> OutcomeStep:
        """The rep appeals an upheld complaint (once, within the appeal window)."""
        found = await self.feedback_fields(team, ref)
        call = ok.appeal_call(team, ref, rep, reason, found.get("lead", ""), self.retention,
                              self.now_arg())
        return _step(await self._run(self._scripts.appeal_complaint, call))

    async def lift_pause(self, team: str, rep: str) -> OutcomeStep:
        """A 'resume:<rep>' timer: end a complaint penalty's pause."""
        call = ok.lift_pause_call(team, rep, self.retention, self.now_arg())
        return _step(await self._run(self._scripts.lift_pause, call))

    async def file_dispute(self, team: str, ref: str, lead_id: str, rep: str,
                           evidence: str) -> OutcomeStep:
        """A rep disputes a lead another rep holds."""
        for _ in range(STALE_RETRIES):
            holder = (await self.lead_refs(team, lead_id)).holder
            call = ok.file_dispute_call(team, ref, lead_id, rep, evidence, holder,
                                        self.retention, self.now_arg())
            reply = await self._run(self._scripts.file_dispute, call)
            if reply[0] != Status.STALE:
                return _step(reply)
        raise StoreError(f"lead {lead_id} kept changing; try again", temporary=True)

    async def resolve_dispute(self, team: str, ref: str, decision: str, actor: str,
                              reason: str) -> OutcomeStep:
        """A manager keeps the lead with its holder or reassigns it to the disputing rep."""
        for _ in range(STALE_RETRIES):
            found = await self.dispute_fields(team, ref)
            lead_id = found.get("lead", "")
            refs = await self.lead_refs(team, lead_id)
            ruling = DisputeRuling(ref, decision, actor, reason, lead_id, found.get("rep", ""),
                                   refs.holder, refs.customer_id)
            call = ok.resolve_dispute_call(team, ruling, self.retention, self.now_arg())
            reply = await self._run(self._scripts.resolve_dispute, call)
            if reply[0] != Status.STALE:
                return _step(reply)
        raise StoreError(f"dispute {ref} kept changing; try again", temporary=True)

    async def feedback_fields(self, team: str, ref: str) -> dict[str, str]:
        """A feedback's stored fields ({} if unknown)."""
        found: dict[str, str] = await self._call(self._redis.hgetall(ok.feedback(team, ref)))
        return found

    async def dispute_fields(self, team: str, ref: str) -> dict[str, str]:
        """A dispute's stored fields ({} if unknown)."""
        found: dict[str, str] = await self._call(self._redis.hgetall(ok.dispute(team, ref)))
        return found

    async def outcomes_of(self, team: str, lead_id: str = "",
                          rep: str = "") -> list[tuple[str, str, dict[str, str]]]:
        """(kind 'fb'|'dispute', ref, fields) of a lead's or a rep's items, oldest first."""
        index = ok.lead_outcomes(team, lead_id) if lead_id else ok.rep_outcomes(team, rep)
        members: list[str] = await self._call(self._redis.zrange(index, -MAX_LISTED, -1))
        named = [m.partition(":")[::2] for m in members]
        async with self._pipeline() as pipe:
            for kind, ref in named:
                pipe.hgetall(ok.feedback(team, ref) if kind == "fb" else ok.dispute(team, ref))
            rows = await pipe.execute()
        return [(kind, ref, row) for (kind, ref), row in zip(named, rows, strict=True) if row]
