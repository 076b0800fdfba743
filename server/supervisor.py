"""The supervisor of `leadgrab serve --workers N`: one Redis, N gateway processes on one port."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.multiprocess import mark_process_dead

from server.app import redis_url
from server.config import Config, ConfigError, load_config
from server.metrics import MULTIPROC_ENV
from server.store.embedded import _death_signal_hook

log = logging.getLogger("leadgrab.supervisor")
WORKER = [sys.executable, "-c", "from server.cli import main; raise SystemExit(main())"]
STOP_GRACE_S = 10.0  # a worker still running this long after SIGTERM is killed
STEADY_S = 5.0  # a worker that lived this long died by accident, not from a broken start
MAX_BACKOFF_S = 10.0


def worker_count(setting: int | str) -> int:
    """`workers = "auto"`: the cores this process may run on."""
    if setting == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count() or 1
    return int(setting)


def free_port(host: str) -> int:
    """A port for `port = 0`: every worker must listen on the same one."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Plan:
    """What every worker is started with."""

    config_path: Path
    host: str
    port: int
    workers: int
    redis_url: str | None


class Supervisor:
    """Starts the workers, restarts one that dies, forwards SIGHUP, and stops them all."""

    def __init__(self, config: Config, plan: Plan) -> None:
        self.config, self.plan = config, plan
        self.stopping = asyncio.Event()
        self.procs: dict[int, asyncio.subprocess.Process] = {}

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.forward, signal.SIGHUP)
        metrics_dir = tempfile.mkdtemp(prefix="leadgrab-metrics-")
        try:
            async with redis_url(self.config, self.plan.redis_url) as url:
                slots = [asyncio.create_task(self.keep(n, url, metrics_dir))
                         for n in range(self.plan.workers)]
                log.info("LeadGrab supervisor: %d workers on http://%s:%d", self.plan.workers,
                         self.plan.host, self.plan.port)
                await self.stopping.wait()
                log.info("stopping %d workers", len(self.procs))
                await asyncio.gather(*slots)
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)

    def forward(self, sig: int) -> None:
        """Pass a signal (SIGHUP: re-read the config) to every running worker. A config that
        does not load is refused here, logged once, not once per worker."""
        if sig == signal.SIGHUP:
            try:
                load_config(self.plan.config_path)
            except ConfigError as exc:
                log.error("reload refused, keeping the running rules: %s", exc)
                return
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(sig)

    async def keep(self, slot: int, url: str, metrics_dir: str) -> None:
        """Run worker `slot` until the supervisor stops; restart it whenever it dies."""
        loop, failures = asyncio.get_running_loop(), 0
        while not self.stopping.is_set():
            started = loop.time()
            proc = await self.spawn(slot, url, metrics_dir)
            code = await self.exit_or_stop(proc)
            mark_process_dead(proc.pid, metrics_dir)  # type: ignore[no-untyped-call]
            if code is None:
                return
            failures = 0 if loop.time() - started > STEADY_S else failures + 1
            delay = min(0.25 * 2 ** failures, MAX_BACKOFF_S) if failures else 0.0
            log.warning("worker %d (pid %d) exited with %d; restarting in %.1f s",
                        slot, proc.pid, code, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def spawn(self, slot: int, url: str, metrics_dir: str) -> asyncio.subprocess.Process:
        p = self.plan
        args = [*WORKER, "serve", "--config", str(p.config_path), "--host", p.host,
                "--port", str(p.port), "--redis-url", url, "--workers", "1", "--reuse-port"]
        env = {**os.environ, MULTIPROC_ENV: metrics_dir, "LEADGRAB_WORKER": str(slot)}
        # a session of its own: Ctrl-C reaches the supervisor alone, which stops workers in turn
        proc = await asyncio.create_subprocess_exec(*args, env=env, start_new_session=True,
                                                    preexec_fn=_death_signal_hook())
        self.procs[slot] = proc
        log.info("worker %d started (pid %d)", slot, proc.pid)
        return proc

    async def exit_or_stop(self, proc: asyncio.subprocess.Process) -> int | None:
        """The worker's exit code if it died; None once it was stopped with the supervisor."""
        died = asyncio.ensure_future(proc.wait())
        stop = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait([died, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if died.done():
            return died.result()
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(died, STOP_GRACE_S)
        except TimeoutError:
            log.error("worker pid %d ignored SIGTERM for %.0f s: killed", proc.pid, STOP_GRACE_S)
            proc.kill()
            await proc.wait()
        return None


def supervise(config: Config, plan: Plan) -> None:
    """Run the supervisor until SIGTERM or Ctrl-C."""
    asyncio.run(Supervisor(config, plan).run())
