"""Who claims each lead and how fast: seeded, so every worker agrees without talking."""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate

from loadtest.scenario import ReactionGroup


@dataclass(frozen=True)
class Contention:
    """Picks `claimers` of `reps` for each lead and a reaction delay for each of them."""

    reps: int
    claimers: int
    groups: tuple[ReactionGroup, ...]
    seed: int
    _bounds: list[float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        total = sum(g.weight for g in self.groups)
        exact = all(g.count is not None for g in self.groups)  # counts: no rounding at the edges
        bounds = [s if exact else s / total * self.reps
                  for s in accumulate(g.weight for g in self.groups)]
        object.__setattr__(self, "_bounds", bounds)

    def claimers_of(self, lead_index: int) -> frozenset[int]:
        """The rep indexes that claim this lead."""
        rng = random.Random(f"{self.seed}:{lead_index}")
        return frozenset(rng.sample(range(self.reps), min(self.claimers, self.reps)))

    def group_of(self, rep_index: int) -> int:
        """Which reaction group a rep belongs to (the groups take the reps in order)."""
        return min(bisect_right(self._bounds, rep_index), len(self.groups) - 1)

    def delay_ms(self, lead_index: int, rep_index: int) -> float:
        """How long this rep waits after seeing this lead before claiming it."""
        group = self.groups[self.group_of(rep_index)]
        rng = random.Random(f"{self.seed}:{lead_index}:{rep_index}")
        return rng.uniform(group.min_ms, group.max_ms)


def lead_id(run_id: str, index: int) -> str:
    """The id of the run's index-th lead."""
    return f"{run_id}-{index:07d}"


def lead_index(run_id: str, lead: str) -> int | None:
    """The index of a lead of this run, or None for a lead that is not ours."""
    prefix, _, number = lead.rpartition("-")
    return int(number) if prefix == run_id and number.isdigit() else None
