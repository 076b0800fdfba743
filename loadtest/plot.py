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


def render(result: dict[str, Any], path: Path) -> None:
    """Write the report image: latency percentiles on the left, wins per rep on the right."""
    fig, (latency, wins) = plt.subplots(1, 2, figsize=(14, 5.5))
    _latencies(latency, result)
    _wins(wins, result)
    s = result["scenario"]
    fig.suptitle(f"LeadGrab load test {s['name']} ({s['kind']}, {s['reps']} reps) "
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
    wins = sorted(result["wins_per_rep"].items(), key=lambda kv: -kv[1])[:MAX_BARS]
    if wins:
        ax.bar(range(len(wins)), [n for _, n in wins], width=1.0)
        if len(wins) <= 40:
            ax.set_xticks(range(len(wins)), [rep for rep, _ in wins], rotation=90)
    shown = f" (top {MAX_BARS})" if len(result["wins_per_rep"]) > MAX_BARS else ""
    ax.set_title(f"wins per rep, most first{shown}")
    ax.set_xlabel("rep")
    ax.set_ylabel("leads won")
