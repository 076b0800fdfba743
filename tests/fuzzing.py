"""Drawing a fixed number of examples from a strategy, for tests that send them over I/O."""

from __future__ import annotations

import os
from typing import TypeVar

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

T = TypeVar("T")
# examples per fuzz test in the suite; the long runs are `python -m tests.hostile ...`
EXAMPLES = int(os.environ.get("LEADGRAB_FUZZ_EXAMPLES", "150"))


def draw(strategy: st.SearchStrategy[T], count: int = EXAMPLES, at: int = 15) -> list[T]:
    """`count` examples, the same ones on every run for a given `at`."""
    drawn: list[T] = []

    @seed(at)
    @settings(max_examples=count, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example: T) -> None:
        drawn.append(example)

    collect()
    return drawn
