"""The scorecard's reads and writes: day counters, scores, earned tiers (store side)."""

from __future__ import annotations

from collections.abc import Mapping

from server.contracts.statuses import Status
from server.store import keys, score_keys
from server.store.score_keys import TallyBatch, TierMove
from server.store.session import Session

EVALUATION_TTL_MS = 3 * 86_400_000


class ScoreReads(Session):
    """What the scorecard and the tier schedule ask of Redis; each one named."""

    async def tally_cursor(self, team: str) -> str:
        """The id of the last audit entry counted into the day counters ('' before any)."""
        found = await self._call(self._redis.get(score_keys.tally_cursor(team)))
        return found or ""

    async def tally_state(self, team: str, leads: list[str],
                          refs: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """The follow-up state of `leads` and the standing of complaint `refs` (known ones)."""
        async with self._pipeline() as pipe:
            pipe.hmget(score_keys.tally_takes(team), leads or ["-"])
            pipe.hmget(score_keys.tally_refs(team), refs or ["-"])
            takes, found = await pipe.execute()
        return ({k: v for k, v in zip(leads, takes, strict=False) if v},
                {k: v for k, v in zip(refs, found, strict=False) if v})

    async def apply_tally(self, team: str, expected: str, cursor: str, batch: TallyBatch,
                          keep_from: str = "") -> bool:
        """Apply a counted batch if the cursor is still `expected` (else another process did)."""
        call = score_keys.tally_call(team, expected, cursor, batch, keep_from)
        status, _ = await self._run(self._scripts.tally_scores, call)
        return Status(status) is Status.OK

    async def tally_days(self, team: str, reps: list[str]) -> dict[str, dict[str, str]]:
        """Each rep's day counters ('<date>|<counter>' -> value)."""
        async with self._pipeline() as pipe:
            for rep in reps:
                pipe.hgetall(score_keys.tally_rep(team, rep))
            found: list[dict[str, str]] = await pipe.execute()
        return dict(zip(reps, found, strict=True))

    async def write_scores(self, team: str, scores: Mapping[str, float]) -> None:
        """Leave each rep's score where the draw scripts read it (the rep's state hash)."""
        async with self._pipeline() as pipe:
            for rep, score in scores.items():
                pipe.hset(keys.rep_state(team, rep), "score", repr(round(score, 6)))
            await pipe.execute()

    async def tier_fields(self, team: str) -> dict[str, str]:
        """The team's earned tiers and pins (earned:<rep>, pin:<rep> -> tier)."""
        found: dict[str, str] = await self._call(self._redis.hgetall(score_keys.tiers(team)))
        return found

    async def record_tier(self, team: str, move: TierMove) -> tuple[bool, int]:
        """Apply one tier change; (False, 0) when the field or the rules moved meanwhile."""
        call = score_keys.tier_call(team, move, self.retention, self.now_arg())
        status, version = await self._run(self._scripts.record_tier, call)
        return Status(status) is Status.OK, int(version or 0)

    async def claim_evaluation(self, team: str, day: str) -> bool:
        """Whether this process is the one to evaluate the team's tiers on local `day`."""
        won = await self._call(self._redis.set(score_keys.tier_evaluation(team, day), "1",
                                               nx=True, px=EVALUATION_TTL_MS))
        return bool(won)
