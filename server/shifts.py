"""Working hours: shift specs like "mon-fri 09:00-18:00" and their UTC intervals, DST-correct."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPEC = re.compile(r"^(?P<days>daily|[a-z]{3}(?:-[a-z]{3})?(?:,[a-z]{3}(?:-[a-z]{3})?)*)\s+"
                   r"(?P<start>\d{2}:\d{2})-(?P<end>\d{2}:\d{2})$")


def _weekdays(text: str) -> set[int]:
    if text == "daily":
        return set(range(7))
    found: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"unknown day in {part!r} (expected mon..sun or daily)")
        a, b = DAYS.index(first), DAYS.index(last or first)
        found.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return found


def _clock(text: str) -> time:
    hours, minutes = (int(x) for x in text.split(":"))
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text!r} is not a time of day (HH:MM)")
    return time(hours, minutes)


def parse_shift(spec: str) -> tuple[set[int], time, time]:
    """Weekdays (0 = Monday), start and end; an end at or before the start runs overnight."""
    match = _SPEC.match(spec.strip().lower())
    if not match:
        raise ValueError(f"shift {spec!r}: expected e.g. 'mon-fri 09:00-18:00' or "
                         "'daily 08:00-20:00'")
    return _weekdays(match["days"]), _clock(match["start"]), _clock(match["end"])


def intervals(specs: tuple[str, ...], timezone: str, around_ms: int, days_before: int,
              days_after: int) -> list[tuple[int, int]]:
    """Every shift as [start_ms, end_ms) in UTC, for the local days in the range, merged."""
    zone = ZoneInfo(timezone)
    today = datetime.fromtimestamp(around_ms / 1000, zone).date()
    spans: list[tuple[int, int]] = []
    for offset in range(-days_before, days_after + 1):
        day = today + timedelta(days=offset)
        spans += [_span(day, start, end, zone) for weekdays, start, end in map(parse_shift, specs)
                  if day.weekday() in weekdays]
    return _merged(sorted(spans))


def _span(day: date, start: time, end: time, zone: ZoneInfo) -> tuple[int, int]:
    begin = datetime.combine(day, start, zone)
    finish = datetime.combine(day + timedelta(days=1) if end <= start else day, end, zone)
    return int(begin.timestamp() * 1000), int(finish.timestamp() * 1000)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def on_shift(specs: tuple[str, ...], timezone: str, now_ms: int) -> bool:
    """Whether `now_ms` falls in a shift (no shifts configured means always on)."""
    if not specs:
        return True
    spans = _spans_around(specs, timezone, now_ms // 3_600_000)
    return any(start <= now_ms < end for start, end in spans)


@lru_cache(maxsize=4096)
def _spans_around(specs: tuple[str, ...], timezone: str, hour: int) -> list[tuple[int, int]]:
    return intervals(specs, timezone, hour * 3_600_000, 1, 1)
