"""Earned tiers: the band a score earns (with hysteresis), and moving a rep between tiers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server.config_scores import ScorecardConfig
from server.floor.arbiter import Arbiter
from server.floor.rules import team_digest, team_reps, tier_overrides
from server.floor.scorecard import Card, Scorecards
from server.store.score_keys import TierMove, rules_body
from server.store.store import StoreError

RETRIES = 3


def earned_tier(card: ScorecardConfig, current: str | None, score: float) -> str | None:
    """The tier a score earns: the current one while the score stays within its band widened
    by `hysteresis`; otherwise the band holding the score (entered from no earned tier only
    `hysteresis` deep), or None (the configured tier). A score on a boundary cannot flap."""
    h = card.hysteresis
    if current in card.tiers and card.tiers[current].holds(score, h):
        return current
    margin = 0.0 if current in card.tiers else -h
    return next((name for name, band in card.tiers.items() if band.holds(score, margin)), None)


def move_reason(card: ScorecardConfig, old: str | None, new: str | None, score: float) -> str:
    """'promoted' or 'demoted': whether the move goes up or down the score bands."""
    if new is not None and old in card.tiers:
        up = (card.tiers[new].min_score or float("-inf")) > \
            (card.tiers[old].min_score or float("-inf"))
    elif new is not None:
        up = card.tiers[new].min_score is not None
    else:
        low = card.tiers[old].min_score if old in card.tiers else None
        up = low is None or score >= low
    return "promoted" if up else "demoted"


@dataclass(frozen=True, slots=True)
class TierChange:
    """A recorded change: the rep's tier in force before and after, and the rules version."""

    rep: str
    prev: str | None
    tier: str | None
    rules_version: int


class TierDesk:
    """Sets earned tiers and pins, each with the rules the new tier brings (record_tier.lua)."""

    def __init__(self, arbiter: Arbiter) -> None:
        self.arbiter = arbiter

    async def fields(self, team: str) -> dict[str, str]:
        """The team's tiers hash (earned:<rep>, pin:<rep> -> tier)."""
        return await self.arbiter.store.tier_fields(team)

    async def change(self, rep: str, kind: str, value: str | None, actor: str,
                     reason: str) -> TierChange:
        """Set (or, with None, clear) the rep's `kind` ('earned' or 'pin') tier; retried
        while another process moves the same field or the rules meanwhile."""
        config, store = self.arbiter.config, self.arbiter.store
        rep_config = config.rep(rep)
        if rep_config is None:
            raise ValueError(f"unknown rep {rep!r}")
        team, name = rep_config.team, f"{kind}:{rep}"
        for _ in range(RETRIES):
            fields = await store.tier_fields(team)
            version = await store.rules_version(team)
            after = dict(fields)
            after.pop(name, None)
            if value:
                after[name] = value
            before_tiers, tiers = tier_overrides(fields), tier_overrides(after)
            reps = team_reps(config, team, tiers)
            new = next(r for r in reps if r.id == rep)
            prev = next(r for r in team_reps(config, team, before_tiers) if r.id == rep).tier
            move = TierMove(
                rep=rep, field=name, value=value or "", expected=fields.get(name, ""),
                version=version, actor=actor, reason=reason, prev=prev or "", tier=new.tier or "",
                digest=team_digest(config, team, tiers), rep_json=new.to_json(),
                kept=rules_body(config.teams[team].model_dump_json(),
                                [(r.id, r.to_json()) for r in reps]))
            done, version = await store.record_tier(team, move)
            if done:
                await self.arbiter.refresh_roster()
                return TierChange(rep, prev, new.tier, version)
        raise StoreError(f"the tiers of {team} kept changing; try again", temporary=True)


class TierSchedule:
    """Evaluates a team's earned tiers once a local day at `evaluate_at` (team time zone):
    one process claims the day, moves the reps whose score left their band (pinned reps
    hold), and each move is audited and told to the rep."""

    def __init__(self, desk: TierDesk, cards: Scorecards) -> None:
        self.desk, self.cards = desk, cards

    async def tick(self, team: str, found: list[Card]) -> list[TierChange]:
        """Evaluate now if the team's evaluation time has come today and nobody did yet."""
        card = self.cards.card_config(team)
        if not card.tiers:
            return []
        now_ms = await self.desk.arbiter.now_ms()
        local = datetime.fromtimestamp(now_ms / 1000, self.cards.zone(team))
        if local.hour * 60 + local.minute < card.evaluate_minute():
            return []
        if not await self.desk.arbiter.store.claim_evaluation(team, local.date().isoformat()):
            return []
        return await self.evaluate(team, found)

    async def evaluate(self, team: str, found: list[Card]) -> list[TierChange]:
        """Move every unpinned rep whose score earns another tier than the one it has."""
        card, fields = self.cards.card_config(team), await self.desk.fields(team)
        moved = []
        for scored in found:
            if f"pin:{scored.rep}" in fields:
                continue
            current = fields.get(f"earned:{scored.rep}")
            new = earned_tier(card, current, scored.score)
            if new != current:
                reason = move_reason(card, current, new, scored.score)
                moved.append(await self.desk.change(scored.rep, "earned", new, "schedule",
                                                    reason))
        if moved:
            await self.desk.arbiter.refresh_tables()  # a tier may bring other shifts
        return moved
