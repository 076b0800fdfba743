"""Key and argument lists of the scripts a returning rep's offers use (pure, as in `keys`)."""

from __future__ import annotations

from server.store.keys import ScriptCall, days, held, lead, lockout, rep_state, rules, shift


def claimable_call(team: str, rep: str, lead_ids: list[str], now: str) -> ScriptCall:
    """claimable_leads.lua: which of `lead_ids` the rep may claim now (read only)."""
    keys = [rules(team), days(team), rep_state(team, rep), held(team, rep), lockout(team, rep),
            shift(team, rep), *(lead(team, lead_id) for lead_id in lead_ids)]
    return ScriptCall(keys, [now, rep, *lead_ids])
