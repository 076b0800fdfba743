"""The PNG report: latency distributions and wins per rep (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

MAX_BARS = 400
FEW_REPS = 40


def render(result: dict[str, Any], path: Path) -> None:
    """Write the report image: latency percentiles on the left, wins per rep on the right."""
    fig, (latency, wins) = plt.subplots(1, 2, figsize=(14, 5.5))
    _latencies(latency, result)
    _wins(wins, result)
    s = result["scenario"]
    mode = s.get("mode", "fcfs")
    if mode == "window":
        mode += f" {s['window_ms']} ms {s['window_policy']}"
    fig.suptitle(f"LeadGrab load test {s['name']} ({s['kind']}, {s['reps']} reps, {mode}) "
                 f"run {result['run_id']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _latencies(ax: Axes, result: dict[str, Any]) -> None:
    curves = {
        "claim round trip": result["claims"].get("curve_ms"),
        "fan-out, every receipt": result["fanout"].get("curve_ms"),
        "fan-out, last rep per lead": result["fanout"].get("last_rep_curve_ms"),
        "echo ceiling": result["ceilings"].get("echo", {}).get("curve_ms"),
        "window: claim -> pending": result.get("window", {}).get("pending_curve_ms"),
        "window: claim -> final decision": result.get("window", {}).get("final_curve_ms"),
        "window: added beyond the window": result.get("window", {}).get("added_curve_ms"),
    }
    for label, points in curves.items():
        if points:
            ax.plot([_nines(p) for p, _ in points], [ms for _, ms in points], marker="o",
                    label=label)
    ax.set_xticks([_nines(p) for p in (50, 90, 99, 99.9, 99.99)],
                  ["p50", "p90", "p99", "p99.9", "p99.99"])
    ax.set_yscale("log")
    ax.set_ylabel("latency, ms (log)")
    ax.set_title("latency by percentile")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()


def _nines(percentile: float) -> float:
    """Percentile on a 'number of nines' axis: 90 -> 1, 99 -> 2, 99.9 -> 3."""
    return -math.log10(max(1e-5, 1 - percentile / 100))


def _wins(ax: Axes, result: dict[str, Any]) -> None:
    """Wins per rep: in rep order for a few reps (reaction groups side by side), else most first."""
    few = len(result["wins_per_rep"]) <= FEW_REPS
    wins = list(result["wins_per_rep"].items())
    wins = wins if few else sorted(wins, key=lambda kv: -kv[1])[:MAX_BARS]
    if wins:
        ax.bar(range(len(wins)), [n for _, n in wins], width=0.9 if few else 1.0)
        if few:
            ax.set_xticks(range(len(wins)), [rep for rep, _ in wins], rotation=90)
        ax.axhline(sum(n for _, n in wins) / len(wins), color="grey", linestyle="--",
                   label="equal share")
        ax.legend()
    order = "in rep order" if few else "most first"
    shown = f", top {MAX_BARS}" if len(result["wins_per_rep"]) > MAX_BARS else ""
    ax.set_title(f"wins per rep ({order}{shown}); Jain's index {_jain(result)}")
    ax.set_xlabel("rep")
    ax.set_ylabel("leads won")


def _jain(result: dict[str, Any]) -> str:
    fair = result.get("fairness") or {}
    return "-" if fair.get("jain") is None else f"{fair['jain']:.3f}"
