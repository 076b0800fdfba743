"""The machine a run happens on: its description, file-descriptor limits and process memory."""

from __future__ import annotations

import asyncio
import os
import platform
import resource
from collections.abc import Coroutine
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


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
    }


def _loop_name() -> str:
    try:
        return f"uvloop {metadata.version('uvloop')}"
    except metadata.PackageNotFoundError:
        return "asyncio"
