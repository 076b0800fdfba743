"""py-spy sampling the server process while the main phase runs."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

FORMATS = {".svg": "flamegraph", ".json": "speedscope", ".txt": "raw"}


def py_spy() -> str | None:
    """The py-spy binary next to this Python or on PATH."""
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


async def record(pid: int | None, delay_s: float, seconds: float, output: Path | None) -> None:
    """After `delay_s`, sample the server for `seconds` into `output` (.svg, .json or .txt)."""
    binary = py_spy()
    if output is None or pid is None or binary is None:
        return
    await asyncio.sleep(delay_s)
    fmt = FORMATS.get(output.suffix, "flamegraph")
    proc = await asyncio.create_subprocess_exec(
        binary, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
        "--rate", "200", "--format", fmt, "--output", str(output), "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.wait_for(proc.wait(), seconds + 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
