"""The claim's KEYS and ARGV, each team's, rep's and lead's part built and packed once.

A claim is the hot path: `keys.claim_call` builds 16 key strings and the batch packs 25
bulk strings per call, most of them the same from claim to claim. Here they are built and
packed in RESP once per team, rep and lead, and a claim joins the pieces; the KEYS and ARGV
are exactly `keys.claim_call`'s (tests/test_claim_keys.py holds the two together).
"""

from __future__ import annotations

from typing import TypeVar

from server.store import keys
from server.store.keys import Retention, ScriptCall

K = TypeVar("K")
V = TypeVar("V")

REMEMBERED = 10_000  # reps, leads or customers remembered per kind; then started over
NUMKEYS = b"$2\r\n16\r\n"  # claim_lead.lua's KEYS count, packed


def bulk(text: str) -> bytes:
    """One RESP bulk string."""
    data = text.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def _packed(*texts: str) -> bytes:
    return b"".join([bulk(text) for text in texts])


class _Team:
    __slots__ = ("audit_events", "keys", "pool", "rules_days", "timers")

    def __init__(self, team: str) -> None:
        self.keys = (keys.rules(team), keys.days(team), keys.audit(team), keys.events(team),
                     keys.timers(team), keys.pool(team))
        rules, days, audit, events, timers, pool = self.keys
        self.rules_days, self.audit_events = _packed(rules, days), _packed(audit, events)
        self.timers, self.pool = _packed(timers), _packed(pool)


class _Rep:
    __slots__ = ("arg", "keys", "rate_lockout", "shift", "state_held")

    def __init__(self, team: str, rep: str) -> None:
        self.keys = (keys.rep_state(team, rep), keys.held(team, rep), keys.rate(team, rep),
                     keys.lockout(team, rep), keys.shift(team, rep))
        state, held, rate, lockout, shift = self.keys
        self.state_held, self.rate_lockout = _packed(state, held), _packed(rate, lockout)
        self.shift, self.arg = _packed(shift), bulk(rep)


class _Lead:
    __slots__ = ("arg", "keys", "lead", "trail_candidates")

    def __init__(self, team: str, lead_id: str) -> None:
        self.keys = (keys.lead(team, lead_id), keys.trail(team, lead_id),
                     keys.candidates(team, lead_id))
        lead, trail, candidates = self.keys
        self.lead, self.trail_candidates = _packed(lead), _packed(trail, candidates)
        self.arg = bulk(lead_id)


class ClaimCalls:
    """Builds claim_lead.lua's calls as `keys.claim_call` does, packed for the batch."""

    def __init__(self, retention: Retention) -> None:
        self.retention = retention
        self.limits = _packed(str(retention.request_ttl_ms), str(retention.audit_maxlen),
                              str(retention.events_maxlen))
        self._teams: dict[str, _Team] = {}
        self._reps: dict[tuple[str, str], _Rep] = {}
        self._leads: dict[tuple[str, str], _Lead] = {}
        self._customers: dict[tuple[str, str], tuple[str, bytes, bytes]] = {}

    def call(self, team: str, rep: str, lead_id: str, req_id: str, now: str,
             customer_id: str = "") -> ScriptCall:
        """The call `keys.claim_call` builds, with its RESP body (`ScriptCall.packed`); a
        string no UTF-8 encoder accepts leaves it unpacked (the batch then fails it alone)."""
        try:
            return self._call(team, rep, lead_id, req_id, now, customer_id)
        except UnicodeEncodeError:
            return keys.claim_call(team, rep, lead_id, req_id, self.retention, now, customer_id)

    def _call(self, team: str, rep: str, lead_id: str, req_id: str, now: str,
              customer_id: str) -> ScriptCall:
        t, r, ld = self._team(team), self._rep(team, rep), self._lead(team, lead_id)
        cust_key, cust_packed, cust_arg = self._customer(team, customer_id)
        request = keys.request(team, rep, req_id, lead_id)
        rules, days, audit, events, timers, pool = t.keys
        state, held, rate, lockout, shift = r.keys
        lead, trail, candidates = ld.keys
        packed = b"".join([
            NUMKEYS, t.rules_days, ld.lead, r.state_held, bulk(request), t.audit_events,
            ld.trail_candidates, t.timers, r.rate_lockout, cust_packed, r.shift, t.pool,
            bulk(now), r.arg, ld.arg, bulk(req_id), self.limits, cust_arg])
        retention = self.retention
        return ScriptCall(
            [rules, days, lead, state, held, request, audit, events, trail, candidates, timers,
             rate, lockout, cust_key, shift, pool],
            [now, rep, lead_id, req_id, retention.request_ttl_ms, retention.audit_maxlen,
             retention.events_maxlen, customer_id],
            packed)

    def _team(self, team: str) -> _Team:
        found = self._teams.get(team)
        if found is None:
            found = self._teams[team] = _Team(team)
        return found

    def _rep(self, team: str, rep: str) -> _Rep:
        found = self._reps.get((team, rep))
        if found is None:
            found = _remember(self._reps, (team, rep), _Rep(team, rep))
        return found

    def _lead(self, team: str, lead_id: str) -> _Lead:
        found = self._leads.get((team, lead_id))
        if found is None:
            found = _remember(self._leads, (team, lead_id), _Lead(team, lead_id))
        return found

    def _customer(self, team: str, customer_id: str) -> tuple[str, bytes, bytes]:
        found = self._customers.get((team, customer_id))
        if found is None:
            key = keys.customer(team, customer_id)
            found = _remember(self._customers, (team, customer_id),
                              (key, bulk(key), bulk(customer_id)))
        return found


def _remember(memory: dict[K, V], key: K, value: V) -> V:
    """Keep `value`, starting over beyond REMEMBERED entries (ids from clients: bounded)."""
    if len(memory) >= REMEMBERED:
        memory.clear()
    memory[key] = value
    return value
