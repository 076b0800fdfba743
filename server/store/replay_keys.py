"""Key and argument lists of the scripts only a replay uses (pure, as in `keys`)."""

from __future__ import annotations

from server.store.keys import ScriptCall, timers


def schedule_call(team: str, limit: int) -> ScriptCall:
    """timer_schedule.lua: the team's earliest `limit` timers with their due times."""
    return ScriptCall([timers(team)], [limit])
