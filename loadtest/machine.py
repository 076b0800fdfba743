"""The machine a run happens on: its description, file-descriptor limits and process memory."""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import time
from collections.abc import Coroutine
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


_SERVER_CPUS: set[int] = set()  # with --pin-server: the measured server's CPU


def pin_server() -> str:
    """--pin-server: the last CPU for the measured server (the gateway, then the echo
    server), the others for this process, its workers and the Redis it starts (they inherit
    them): the server's CPU per operation is then its own, not also the cost of sharing its
    core's caches and run queue with the load. Returns how it is split, for the report."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise OSError("--pin-server needs at least two CPUs")
    _SERVER_CPUS.clear()
    _SERVER_CPUS.add(cpus[-1])
    os.sched_setaffinity(0, cpus[:-1])
    return f"server on CPU {cpus[-1]}; load generator and Redis on CPU " + \
        ",".join(str(cpu) for cpu in cpus[:-1])


def server_child_setup() -> None:
    """In a server child before exec: thousands of sockets, no core dumps, and its CPU when
    pinned."""
    raise_nofile()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if _SERVER_CPUS:
        os.sched_setaffinity(0, _SERVER_CPUS)


def raise_nofile() -> int:
    """Lift the soft limit on open files to the hard limit (thousands of sockets); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when it is installed, else on the default loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def rss_kb(pid: int) -> int | None:
    """A process's resident set size (VmRSS) in KiB, or None if it cannot be read."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def nofile_of(pid: int) -> int | None:
    """A process's soft open-files limit, from /proc."""
    try:
        text = Path(f"/proc/{pid}/limits").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    return None


class CpuWindow:
    """CPU use over a window: the whole machine's busy share and one process's share of a core."""

    def __init__(self, server: int | None, workers: list[int]) -> None:
        self.server, self.workers = server, workers
        self.started = (time.monotonic(), _machine_ticks(), self._ticks())

    def _ticks(self) -> tuple[int | None, int | None, int | None]:
        loads = [_process_ticks(pid) for pid in self.workers]
        workers = sum(t for t in loads if t is not None) if self.workers else None
        return server_ticks(self.server), workers, server_ticks(self.server, kernel=True)

    def result(self) -> dict[str, float | None]:
        """Busy percentages since the window opened: the machine's of all cores, the server's
        and the client workers' (summed) of one core."""
        (t0, (busy0, total0), before) = self.started
        busy1, total1 = _machine_ticks()
        after, elapsed = self._ticks(), time.monotonic() - t0
        machine = 100 * (busy1 - busy0) / (total1 - total0) if total1 > total0 else None
        shares = [None if a is None or b is None else
                  100 * (a - b) / os.sysconf("SC_CLK_TCK") / elapsed
                  for a, b in zip(after, before, strict=True)]
        seconds = [None if s is None else round(s / 100 * elapsed, 3) for s in shares]
        return {"machine_busy_pct": _round(machine), "server_cpu_pct": _round(shares[0]),
                "workers_cpu_pct": _round(shares[1]), "server_cpu_s": seconds[0],
                "server_kernel_s": seconds[2], "window_s": round(elapsed, 3)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _process_ticks(pid: int | None, kernel: bool = False) -> int | None:
    """utime + stime of a process (stime alone if `kernel`: syscalls), in clock ticks."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[12]) if kernel else int(fields[11]) + int(fields[12])


def server_ticks(pid: int | None, kernel: bool = False) -> int | None:
    """CPU ticks of a server and its children (the workers of `leadgrab serve --workers N`),
    without an embedded redis-server: the gateway's cost, not Redis's. A worker that died
    during the window loses its ticks (its supervisor would count them only once reaped)."""
    own = _process_ticks(pid, kernel)
    if pid is None or own is None:
        return own
    for child in _children(pid):
        if _comm(child) != "redis-server":
            own += server_ticks(child, kernel) or 0
    return own


def _children(pid: int) -> list[int]:
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        return [int(c) for t in tasks for c in (t / "children").read_text().split()]
    except (OSError, ValueError):
        return []


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cpu_model() -> str:
    """The CPU model name, as lscpu and /proc/cpuinfo show it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe() -> dict[str, Any]:
    """The facts a benchmark result is meaningless without."""
    return {
        "nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
        "platform": platform.platform(), "loop": _loop_name(),
        "loadavg_before": _loadavg(),
    }


def _loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def _loop_name() -> str:
    try:
        return f"uvloop {metadata.version('uvloop')}"
    except metadata.PackageNotFoundError:
        return "asyncio"
