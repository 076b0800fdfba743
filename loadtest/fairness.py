"""How evenly the wins went: Jain's index over the reps who claimed, and wins per reaction group."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loadtest.contention import Contention
from loadtest.scenario import Scenario
from loadtest.tally import Tally


def jain(values: Sequence[float]) -> float | None:
    """Jain's index (Σx)² / (n·Σx²): 1 when all are equal, 1/n when one takes everything."""
    squares = sum(x * x for x in values)
    if not values or not squares:
        return None
    return sum(values) ** 2 / (len(values) * squares)


def wins_per_rep(tally: Tally) -> dict[str, int]:
    """Wins of every rep who claimed (zero included) or won, by rep id."""
    reps = set(tally.claimed) | set(tally.wins)
    return {rep: tally.wins.get(rep, 0) for rep in sorted(reps)}


def section(tally: Tally, scenario: Scenario) -> dict[str, Any]:
    """The JSON section: Jain's index of wins over the eligible reps (those who claimed)."""
    eligible = sorted(tally.claimed)
    wins = [tally.wins.get(rep, 0) for rep in eligible]
    index = jain(wins)
    return {"eligible_reps": len(eligible), "wins": sum(wins),
            "jain": None if index is None else round(index, 4),
            "min_wins": min(wins, default=0), "max_wins": max(wins, default=0),
            "groups": _groups(tally, scenario, eligible)}


def _groups(tally: Tally, scenario: Scenario, eligible: list[str]) -> list[dict[str, Any]]:
    """Wins per reaction group (reps r00001.. split in order, as the load tester assigns them)."""
    contention = Contention(scenario.reps, scenario.claimers_per_lead, scenario.reaction,
                            scenario.seed)
    reps, wins = [0] * len(scenario.reaction), [0] * len(scenario.reaction)
    for rep in eligible:
        index = _index(rep)
        if index is not None:
            reps[contention.group_of(index)] += 1
            wins[contention.group_of(index)] += tally.wins.get(rep, 0)
    total = sum(wins)
    return [{"reaction_ms": [g.min_ms, g.max_ms], "reps": n, "wins": w,
             "share_of_wins": round(w / total, 4) if total else None,
             "wins_per_rep": round(w / n, 1) if n else None}
            for g, n, w in zip(scenario.reaction, reps, wins, strict=True)]


def _index(rep: str) -> int | None:
    """The 0-based index of a generated rep id (r00001 -> 0), or None for another id."""
    digits = rep[1:]
    return int(digits) - 1 if rep.startswith("r") and digits.isdigit() else None
