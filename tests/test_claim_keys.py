"""The claim's cached KEYS, ARGV and RESP are exactly what `keys.claim_call` and the batch's
generic packing give (pure, no Redis)."""

from __future__ import annotations

import pytest

from server.store import claim_keys, keys
from server.store.batch import _evalsha
from server.store.claim_keys import ClaimCalls
from server.store.keys import Retention, ScriptCall

LIMITS = Retention(events_maxlen=10_000, audit_maxlen=1_000_000, request_ttl_ms=86_400_000)
SHA = "f" * 40
CASES = [  # team, rep, lead, req_id, now, customer
    ("north", "alice", "L-1", "req.1", "", ""),
    ("north", "alice", "L-1", "req.2", "1799053200000", "C9"),
    ("north", "bob", "L:2", "}{evil}", "", "客户 ✓"),
    ("team-2", "alice", "L-1", "req.1", "", "C9"),
]


@pytest.mark.parametrize("case", CASES)
def test_a_cached_call_is_claim_call_packed(case: tuple[str, ...]) -> None:
    team, rep, lead_id, req_id, now, customer = case
    calls = ClaimCalls(LIMITS)
    expected = keys.claim_call(team, rep, lead_id, req_id, LIMITS, now, customer)
    for _ in range(2):  # built, then from the remembered parts
        got = calls.call(team, rep, lead_id, req_id, now, customer)
        assert (got.keys, got.args) == (expected.keys, expected.args)
        assert got.packed is not None
        assert _evalsha(SHA, got) == _evalsha(SHA, expected)


def test_calls_sharing_parts_do_not_mix_them() -> None:
    """Several teams, reps and leads through one cache: each call has its own parts."""
    calls = ClaimCalls(LIMITS)
    for team, rep, lead_id, req_id, now, customer in CASES * 3:
        got = calls.call(team, rep, lead_id, req_id, now, customer)
        expected = keys.claim_call(team, rep, lead_id, req_id, LIMITS, now, customer)
        assert _evalsha(SHA, got) == _evalsha(SHA, expected)


def test_an_unencodable_string_leaves_the_call_unpacked() -> None:
    """The batch then fails that call alone, as it does for any call it cannot pack."""
    got = ClaimCalls(LIMITS).call("north", "alice", "L-1", "r1", "", "\ud800")
    assert got.packed is None
    assert got == keys.claim_call("north", "alice", "L-1", "r1", LIMITS, "", "\ud800")
    with pytest.raises(UnicodeEncodeError):
        _evalsha(SHA, got)


def test_the_remembered_parts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(claim_keys, "REMEMBERED", 5)
    calls = ClaimCalls(LIMITS)
    for n in range(12):
        calls.call("north", f"rep{n}", f"L-{n}", "r1", "", f"C{n}")
    assert 0 < len(calls._leads) <= 5
    assert 0 < len(calls._reps) <= 5
    assert 0 < len(calls._customers) <= 5


def test_a_packed_call_is_sent_as_packed() -> None:
    """The batch writes `packed` as the command's tail, not the lists (they may disagree
    only in a bug; this pins which one goes out)."""
    call = ScriptCall(["k"], ["a"], b"$1\r\n1\r\n$1\r\nk\r\n$1\r\nb\r\n")
    assert _evalsha(SHA, call).endswith(b"$1\r\nb\r\n")
