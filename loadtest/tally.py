"""What the clients saw: latencies, outcomes, errors and each lead's receipts and winners."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from loadtest.histogram import Latency
from loadtest.window import WindowTally


@dataclass
class LeadSeen:
    """One lead as the clients saw it: how many reps got it, how fast the first and the last
    receipt came, who won."""

    receipts: int = 0
    first_us: float = float("inf")
    first_rep: str = ""  # who received it first (wall-clock receipt times, all workers)
    last_us: float = 0.0
    winners: list[str] = field(default_factory=list)
    lost: int = 0
    rejected: int = 0

    def add(self, other: LeadSeen) -> None:
        self.receipts += other.receipts
        if other.first_us < self.first_us:
            self.first_rep = other.first_rep
        self.first_us = min(self.first_us, other.first_us)
        self.last_us = max(self.last_us, other.last_us)
        self.winners += other.winners
        self.lost += other.lost
        self.rejected += other.rejected


@dataclass
class Tally:
    """Counters of one worker (or, merged, of the whole run)."""

    claim: Latency = field(default_factory=Latency)
    fanout: Latency = field(default_factory=Latency)
    results: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    disconnects: Counter[str] = field(default_factory=Counter)
    wins: Counter[str] = field(default_factory=Counter)
    claimed: Counter[str] = field(default_factory=Counter)
    window: WindowTally = field(default_factory=WindowTally)
    leads: dict[str, LeadSeen] = field(default_factory=dict)
    connected: int = 0
    claims_sent: int = 0
    unanswered: int = 0
    taken_measured: int = 0  # lead_taken frames received after the warm-up (a bench's fan-out)

    def lead(self, lead_id: str) -> LeadSeen:
        """The record of one lead, created on first sight."""
        seen = self.leads.get(lead_id)
        if seen is None:
            seen = self.leads[lead_id] = LeadSeen()
        return seen

    def outcome(self, rep: str, lead_id: str, result: str, reason: str | None) -> None:
        """Count one claim_result; a rep winning a lead it already holds is `won_again`."""
        seen = self.lead(lead_id)
        if result == "won" and rep in seen.winners:
            result = "won_again"
        self.results[f"{result}:{reason}" if reason else result] += 1
        if result == "won":
            seen.winners.append(rep)
            self.wins[rep] += 1
        elif result == "lost":
            seen.lost += 1
        elif result == "rejected":
            seen.rejected += 1

    def add(self, other: Tally) -> None:
        """Merge another worker's tally into this one."""
        self.claim.add(other.claim)
        self.fanout.add(other.fanout)
        for mine, theirs in ((self.results, other.results), (self.errors, other.errors),
                             (self.disconnects, other.disconnects), (self.wins, other.wins),
                             (self.claimed, other.claimed)):
            mine.update(theirs)
        self.window.add(other.window)
        for lead_id, seen in other.leads.items():
            self.lead(lead_id).add(seen)
        self.connected += other.connected
        self.claims_sent += other.claims_sent
        self.unanswered += other.unanswered
        self.taken_measured += other.taken_measured

    @property
    def answered(self) -> int:
        """Claims with a final answer (a `pending` is not one)."""
        return sum(self.results.values())
