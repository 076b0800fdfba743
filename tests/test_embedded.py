"""Tests for the private embedded redis-server, on real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from server.store.embedded import (
    MAX_UNIX_PATH_BYTES,
    EmbeddedRedis,
    EmbeddedRedisError,
    find_redis_server,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

# Runs in a child interpreter: starts redis, prints its pid, then idles until signalled.
# Its Ctrl-C is a terminal's foreground one even when pytest runs in the background (`cmd &`
# without job control ignores SIGINT, children inherit that, and Python then keeps it so).
PARENT_SCRIPT = """
import asyncio, os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from pathlib import Path
from server.store.embedded import EmbeddedRedis

def report(pid: int) -> None:
    try:
        os.kill(pid, 0)
        print("STOPPED alive", flush=True)
    except ProcessLookupError:
        print("STOPPED gone", flush=True)

async def main() -> None:
    embedded = EmbeddedRedis(Path(sys.argv[1]))
    pids = []
    try:
        async with embedded:
            pids.append(embedded.pid)
            print(embedded.pid, flush=True)
            await asyncio.sleep(60)
    finally:
        report(pids[0])

asyncio.run(main())
"""


def alive(pid: int) -> bool:
    """Whether pid runs; a zombie left for a non-reaping init counts as gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return fields[0] != "Z"


def kill_if_alive(pid: int) -> None:
    """Leave no orphan behind when a test fails."""
    if alive(pid):
        os.kill(pid, signal.SIGKILL)


async def wait_gone(pid: int, timeout_s: float = 5.0) -> bool:
    async with asyncio.timeout(timeout_s):
        while alive(pid):
            await asyncio.sleep(0.05)
    return True


async def get(url: str, key: str) -> bytes | str | None:
    client = aioredis.Redis.from_url(url)
    try:
        return await client.get(key)
    finally:
        await client.aclose()


async def test_find_redis_server_prefers_binary_next_to_python() -> None:
    beside_python = Path(sys.executable).parent / "redis-server"
    found = find_redis_server()
    assert os.access(found, os.X_OK)
    if beside_python.is_file():
        assert found == str(beside_python)


async def test_start_ping_and_key_survives_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    embedded = EmbeddedRedis(data_dir)
    async with embedded as url:
        assert url == f"unix://{data_dir / 'redis.sock'}"
        assert embedded.version is not None and embedded.version[0].isdigit()
        client = aioredis.Redis.from_url(url)
        try:
            assert await client.ping()
            assert await client.config_get("appendonly") == {"appendonly": "yes"}
            await client.set("lead:1", "alice")
        finally:
            await client.aclose()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert (data_dir / "appendonly.aof").is_file() or (data_dir / "appendonlydir").is_dir()
    async with EmbeddedRedis(data_dir) as url:
        assert await get(url, "lead:1") == b"alice"


async def test_stop_leaves_no_process_and_is_idempotent(tmp_path: Path) -> None:
    embedded = EmbeddedRedis(tmp_path)
    await embedded.stop()  # before start: a no-op
    await embedded.start()
    pid = embedded.pid
    assert pid is not None and alive(pid)
    await embedded.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    await embedded.stop()
    assert embedded.pid is None


async def test_long_data_dir_falls_back_to_tcp(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * MAX_UNIX_PATH_BYTES)
    async with EmbeddedRedis(data_dir) as url:
        assert url.startswith("redis://127.0.0.1:")
        client = aioredis.Redis.from_url(url)
        try:
            assert await client.ping()
        finally:
            await client.aclose()
    assert not (data_dir / "redis.sock").exists()


async def test_missing_binary_raises_clear_error(tmp_path: Path) -> None:
    embedded = EmbeddedRedis(tmp_path, binary="/nonexistent")
    with pytest.raises(EmbeddedRedisError, match="not found or not executable: /nonexistent"):
        await embedded.start()
    await embedded.stop()


async def test_early_exit_reports_log_tail(tmp_path: Path) -> None:
    fake = tmp_path / "fake-redis-server"
    fake.write_text("#!/bin/sh\necho 'FATAL: bad config line' >&2\nexit 3\n")
    fake.chmod(0o755)
    embedded = EmbeddedRedis(tmp_path / "data", binary=str(fake))
    with pytest.raises(EmbeddedRedisError, match=r"(?s)exited with code 3.*bad config line"):
        await embedded.start()
    await embedded.stop()


async def start_parent(data_dir: Path) -> tuple[asyncio.subprocess.Process, int]:
    """Run PARENT_SCRIPT in its own session and return it with its redis-server pid."""
    parent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PARENT_SCRIPT,
        str(data_dir),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert parent.stdout is not None
    line = await asyncio.wait_for(parent.stdout.readline(), timeout=15)
    return parent, int(line)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
async def test_redis_dies_with_its_parent(tmp_path: Path, sig: signal.Signals) -> None:
    parent, redis_pid = await start_parent(tmp_path / "data")
    assert alive(redis_pid)
    try:
        parent.send_signal(sig)
        await parent.communicate()
        assert await wait_gone(redis_pid)
    finally:
        kill_if_alive(redis_pid)


async def test_ctrl_c_stops_redis_in_order(tmp_path: Path) -> None:
    parent, redis_pid = await start_parent(tmp_path / "data")
    try:
        os.killpg(parent.pid, signal.SIGINT)  # what a terminal sends to the foreground group
        out, _ = await parent.communicate()
        assert b"STOPPED gone" in out  # the parent itself reaped redis before exiting
    finally:
        kill_if_alive(redis_pid)
