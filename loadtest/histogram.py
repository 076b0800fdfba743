"""Latency histograms: HDR, recorded in microseconds, summarised in milliseconds."""

from __future__ import annotations

from array import array
from collections import Counter
from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

HIGHEST_US = 120_000_000
DIGITS = 3
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9}
CURVE = (0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100)


class Latency:
    """An HDR histogram of latencies; picklable (encoded), so workers can ship it home.

    Recording only appends to an array (the HDR bucket arithmetic is pure Python, ≈ 2 µs a
    value on the benchmark machine: it would be the load generator's cost inside the very
    latency it measures); the values go into the histogram when it is read or shipped.
    """

    def __init__(self) -> None:
        self._hist: Any = HdrHistogram(1, HIGHEST_US, DIGITS)
        self._recorded = array("q")

    def record_us(self, us: float) -> None:
        """Record one latency; values are clamped into the histogram's range."""
        self._recorded.append(max(1, min(int(us), HIGHEST_US)))

    @property
    def hist(self) -> Any:
        """The HDR histogram with everything recorded so far."""
        if self._recorded:
            record = self._hist.record_value
            for value, times in Counter(self._recorded).items():
                record(value, times)
            self._recorded = array("q")
        return self._hist

    def add(self, other: Latency) -> None:
        """Merge another histogram into this one."""
        if other.count:
            self.hist.add(other.hist)

    @property
    def count(self) -> int:
        return int(self._hist.get_total_count()) + len(self._recorded)

    def ms_at(self, percentile: float) -> float:
        """The latency at a percentile, in milliseconds."""
        return round(float(self.hist.get_value_at_percentile(percentile)) / 1000, 3)

    def summary(self) -> dict[str, float]:
        """Count, mean and the standard percentiles and max, in milliseconds."""
        if not self.count:
            return {"count": 0}
        out = {"count": self.count, "mean": round(self.hist.get_mean_value() / 1000, 3)}
        out.update({name: self.ms_at(p) for name, p in PERCENTILES.items()})
        out["max"] = round(self.hist.get_max_value() / 1000, 3)
        return out

    def curve(self) -> list[tuple[float, float]]:
        """(percentile, ms) points for plotting the distribution."""
        return [(p, self.ms_at(p)) for p in CURVE] if self.count else []

    def __getstate__(self) -> dict[str, Any]:
        return {"hdr": self.hist.encode() if self.count else b""}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._hist, self._recorded = HdrHistogram(1, HIGHEST_US, DIGITS), array("q")
        if state["hdr"]:
            self._hist.add(HdrHistogram.decode(state["hdr"]))
