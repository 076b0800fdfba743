"""What the server spent per operation, and who received each lead first."""

from __future__ import annotations

from collections import Counter
from typing import Any

from scipy.stats import chisquare

from loadtest.tally import Tally

US = 1e6


def per_op_us(cpu_s: float | None, ops: int) -> float | None:
    """CPU microseconds per operation, or None when either is unknown."""
    if cpu_s is None or not ops:
        return None
    return round(cpu_s * US / ops, 2)


def section(kind: str, server: dict[str, Any], tally: Tally) -> dict[str, Any]:
    """The server's CPU (all its worker processes summed) per claim in a bench, per delivered
    frame in a live run; both over the whole driven phase (warm-up included, as its counts)."""
    cpu_s = server.get("server_cpu_s")
    out: dict[str, Any] = {"server_cpu_s": cpu_s, "window_s": server.get("window_s")}
    if kind == "bench":
        out["claims"] = tally.answered
        out["cpu_us_per_claim"] = per_op_us(cpu_s, tally.answered)
    elif kind == "live":
        out["frames"] = tally.fanout.count
        out["cpu_us_per_frame"] = per_op_us(cpu_s, tally.fanout.count)
    return out


def first_spread(tally: Tally) -> dict[str, Any]:
    """Which rep received each lead first: the largest share any rep had, against the fair share
    1/reps, and a chi-square test of the counts against uniform over the connected reps."""
    firsts = Counter(seen.first_rep for seen in tally.leads.values() if seen.first_rep)
    leads, reps = sum(firsts.values()), tally.connected
    if leads < 2 or reps < 2 or len(firsts) > reps:
        return {"leads": leads, "reps": reps}
    counts = [*firsts.values(), *[0] * (reps - len(firsts))]
    top_rep, top = firsts.most_common(1)[0]
    return {"leads": leads, "reps": reps, "top_rep": top_rep, "top_share": round(top / leads, 4),
            "fair_share": round(1 / reps, 4),
            "chi2_p": float(f"{chisquare(counts).pvalue:.3g}")}
