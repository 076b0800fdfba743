"""Rules changes reach reps: a reload that changes a rep's limits sends it a `limits` frame."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

from tests.test_processes import rep_socket, serve, write_config
from tests.test_workers import farm


async def limits_frame(ws: Any, timeout_s: float) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == "limits":
                return frame


async def test_a_reload_reaches_connected_reps_within_a_second(redis: Any, redis_url: str,
                                                              tmp_path: Path) -> None:
    config = write_config(tmp_path, max_daily=5)
    with serve(config, redis_url) as (proc_a, a), serve(config, redis_url) as (_, b):
        async with rep_socket(a, "r001") as on_a, rep_socket(b, "r002") as on_b:
            write_config(tmp_path, max_daily=9)
            started = time.monotonic()
            proc_a.send_signal(signal.SIGHUP)
            here = await limits_frame(on_a, 1.0)
            assert time.monotonic() - started < 1.0
            there = await limits_frame(on_b, 1.5)  # the other process polls once a second
            for frame in (here, there):
                assert frame["quota"]["max_daily"] == frame["rules"]["max_daily"] == 9
                assert frame["quota"]["today"] == 0 and frame["rules_version"] == 2
            write_config(tmp_path, max_daily=9)  # same rules again: nobody is told twice
            proc_a.send_signal(signal.SIGHUP)
            for ws in (on_a, on_b):
                try:
                    extra = await limits_frame(ws, 1.5)
                except TimeoutError:
                    continue
                raise AssertionError(f"told again: {extra}")


async def test_sighup_with_an_invalid_config_is_logged_once(redis: Any, redis_url: str,
                                                            tmp_path: Path) -> None:
    config = write_config(tmp_path)
    with serve(config, redis_url) as (proc, _base):
        log = next(tmp_path.glob("serve-*.log"))
        config.write_text(config.read_text().replace("max_daily = 5", "max_daily = -1"))
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "reload refused" not in log.read_text() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        text = log.read_text()
    assert text.count("reload refused") == 1, text
    assert text.count("max_daily") == 1, text


def test_sighup_with_an_invalid_config_is_logged_once_by_a_farm(tmp_path: Path) -> None:
    with farm(tmp_path) as running:
        config = tmp_path / "config.toml"
        config.write_text(config.read_text().replace("max_daily = 5", "max_daily = -1"))
        running.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "reload refused" not in running.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # a second worker's line would be here by now
        text = running.log.read_text()
    assert text.count("reload refused") == 1, text
