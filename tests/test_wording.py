"""The rep terminal's words for each frame, including those a live test cannot easily provoke."""

from __future__ import annotations

import pytest

from clients.wording import Clock, describe, span

CLOCK = Clock()


@pytest.mark.parametrize(
    ("frame", "line"),
    [
        ({"type": "gap", "requested": "1-0", "first_available": "5-0"},
         "gap: some missed frames were trimmed; leads shown may be stale"),
        ({"type": "resumed", "count": 12}, "resumed: 12 missed frame(s) replayed"),
        ({"type": "paused", "paused": True},
         "paused: no offers, and claims are rejected (not_open); `resume` to come back"),
        ({"type": "paused", "paused": False}, "unpaused: back on the floor, offers follow"),
        ({"type": "revoked", "lead_id": "L1", "reason": "max_hold"},
         "revoked L1: held too long since the last follow-up: it went back to the pool and you "
         "are penalised (a longer cooldown)"),
        ({"type": "revoked", "lead_id": "L1", "reason": "reassigned"},
         "revoked L1: a manager gave it to another rep"),
        ({"type": "assigned", "lead_id": "L7", "by": "system", "reason": "duplicate",
          "lead": {"value": 800.0, "region": "east"}},
         "assigned L7 to you by the system (撞单: same customer as a lead you hold); value=800 "
         "region=east"),
        ({"type": "assigned", "lead_id": "L8", "by": "system", "reason": "auto_assign",
          "lead": {"value": 1.5, "region": ""}},
         "assigned L8 to you by the system (fallback assignment: nobody claimed it in time); "
         "value=1.5 region=-"),
        ({"type": "error", "code": "unavailable", "message": "Redis is unavailable",
          "temporary": True}, "error unavailable: Redis is unavailable (temporary: retry later)"),
        ({"type": "claim_result", "req_id": "r", "lead_id": "W1", "result": "pending",
          "retry_after_ms": 2000},
         "claim W1: pending: you are a candidate; the window closes in 2000 ms"),
        ({"type": "lead", "lead_id": "W2", "value": 9e4, "priority": 5, "region": "east",
          "skills": ["solar", "roof"], "mode": "window", "window_ms": 3000,
          "window_policy": "lottery"},
         "lead W2  value=90000  region=east  skills=solar,roof  priority=5  window=3000 ms "
         "(lottery)"),
        ({"type": "rules", "max_daily": 30}, 'rules: {"max_daily":30}'),
    ],
)
def test_each_frame_in_words(frame: dict[str, object], line: str) -> None:
    assert describe(frame, CLOCK) == line


def test_warning_names_the_deadline_and_the_time_left() -> None:
    due = CLOCK.now_ms() + 600_500
    line = describe({"type": "warning", "lead_id": "L1", "deadline_ms": due, "kind": "max_hold"},
                    CLOCK)
    assert line.startswith(f"warning L1: next follow-up due at {CLOCK.at(due)} (in 10 min 0 s)")
    overdue = describe({"type": "warning", "lead_id": "L1", "deadline_ms": 5, "kind": "followup"},
                       CLOCK)
    assert "(overdue)" in overdue


@pytest.mark.parametrize(("ms", "text"), [(850, "850 ms"), (42_000, "42 s"),
                                          (598_000, "9 min 58 s"), (7_500_000, "2 h 05 min"),
                                          (273_600_000, "3 d 4 h")])
def test_span(ms: int, text: str) -> None:
    assert span(ms) == text
