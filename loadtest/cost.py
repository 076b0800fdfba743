"""What the server spent per operation, and who received each lead first."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import chisquare

from loadtest.tally import Tally

US = 1e6
CHI2_MIN_EXPECTED = 5  # below this many expected per rep, the asymptotic chi-square is wrong
SIMULATIONS = 2000


def per_op_us(cpu_s: float | None, ops: float) -> float | None:
    """CPU microseconds per operation, or None when either is unknown."""
    if cpu_s is None or not ops:
        return None
    return round(cpu_s * US / ops, 2)


def per_rate(used: dict[str, Any], ops_per_s: float, name: str) -> dict[str, Any]:
    """CPU per operation from a CPU window and the measured operation rate (cores used divided
    by operations per second: the window and the count need not cover the same instants)."""
    window_s, cpu_s, kernel_s = used.get("window_s"), used.get("server_cpu_s"), used.get(
        "server_kernel_s")
    ops = ops_per_s * window_s if window_s else 0.0
    return {"server_cpu_s": cpu_s, "server_kernel_s": kernel_s, "window_s": window_s,
            "server_cpu_pct": used.get("server_cpu_pct"), "per_s": ops_per_s,
            f"cpu_us_per_{name}": per_op_us(cpu_s, ops),
            f"kernel_us_per_{name}": per_op_us(kernel_s, ops)}


def section(kind: str, server: dict[str, Any], tally: Tally, claims_per_s: float) -> dict[str, Any]:
    """The server's CPU (all its worker processes summed, user and kernel; kernel alone is
    the syscalls) per claim after the warm-up of a bench, per delivered frame of a live run."""
    if kind == "bench":
        return {**per_rate(server, claims_per_s, "claim"), "claims": tally.claim.count,
                "taken_frames": tally.taken_measured}
    if kind == "live":
        frames = tally.fanout.count
        return {"server_cpu_s": server.get("server_cpu_s"), "frames": frames,
                "server_kernel_s": server.get("server_kernel_s"),
                "cpu_us_per_frame": per_op_us(server.get("server_cpu_s"), frames),
                "kernel_us_per_frame": per_op_us(server.get("server_kernel_s"), frames)}
    return {}


def first_spread(tally: Tally) -> dict[str, Any]:
    """Which rep received each lead first: the largest share any rep had, against the fair share
    1/reps, and a chi-square test of the counts against uniform over the connected reps."""
    firsts = Counter(seen.first_rep for seen in tally.leads.values() if seen.first_rep)
    leads, reps = sum(firsts.values()), tally.connected
    if leads < 2 or reps < 2 or len(firsts) > reps:
        return {"leads": leads, "reps": reps}
    counts = np.array([*firsts.values(), *[0] * (reps - len(firsts))])
    values, how_many = np.unique(counts, return_counts=True)
    top_rep, top = firsts.most_common(1)[0]
    return {"leads": leads, "reps": reps, "top_rep": top_rep, "top_share": round(top / leads, 4),
            "fair_share": round(1 / reps, 4), "top_reps": dict(firsts.most_common(5)),
            "reps_by_firsts": {int(k): int(n) for k, n in zip(values, how_many, strict=True)},
            **_uniformity(counts)}


def _uniformity(counts: npt.NDArray[np.int_]) -> dict[str, Any]:
    """The chi-square p-value against uniform; with under CHI2_MIN_EXPECTED leads per rep the
    asymptotic one is wrong (most reps are first 0 or 1 times), so the p-value is then found by
    simulation: the share of uniform draws of as many leads whose statistic is as large.
    `top_p` is the same for the largest count (how likely so strong a favourite by chance)."""
    leads, reps = int(counts.sum()), len(counts)
    expected = leads / reps
    if expected >= CHI2_MIN_EXPECTED:
        return {"chi2_p": float(f"{chisquare(counts).pvalue:.3g}"), "chi2_method": "asymptotic"}
    draws = np.random.default_rng(0).multinomial(leads, [1 / reps] * reps, size=SIMULATIONS)
    stats = ((draws - expected) ** 2).sum(axis=1) / expected
    observed = ((counts - expected) ** 2).sum() / expected
    top_p = (1 + (draws.max(axis=1) >= counts.max()).sum()) / (1 + SIMULATIONS)
    return {"chi2_p": float(f"{(1 + (stats >= observed).sum()) / (1 + SIMULATIONS):.3g}"),
            "chi2_method": f"simulated ({SIMULATIONS} uniform draws)",
            "top_p": float(f"{top_p:.3g}")}
