"""The embedded redis-server's life: its folder locked, started, restarted (AOF reload) when
it dies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from server.store.embedded import EmbeddedRedis, EmbeddedRedisError
from server.store.folder_lock import FolderLock

log = logging.getLogger(__name__)
POLL_S = 0.2
MAX_ATTEMPTS = 5  # consecutive failed restarts before the server gives up and exits
EXIT_REDIS_LOST = 3
RETRY_S = 0.5  # the pause after the n-th failed restart is n times this


@contextlib.asynccontextmanager
async def kept(folder: Path, appendfsync: str) -> AsyncIterator[str]:
    """The URL of an embedded Redis in `folder`, which is locked while it runs (the
    redis-server holds the lock too), and restarted whenever it dies."""
    async with FolderLock(folder) as lock:
        embedded = EmbeddedRedis(folder, appendfsync=appendfsync, inherit_fds=(lock.fd,))
        async with embedded as url:
            def holder() -> None:
                lock.record(f"leadgrab pid {os.getpid()} (redis-server pid {embedded.pid})")

            holder()
            keeper = asyncio.create_task(keep_running(embedded, holder),
                                         name="leadgrab:redis-keeper")
            try:
                yield url
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper


async def keep_running(embedded: EmbeddedRedis, started: Callable[[], None] = lambda: None,
                       poll_s: float = POLL_S) -> None:
    """Restart the embedded Redis at the same URL whenever it exits; after MAX_ATTEMPTS
    failed restarts in a row, say why and end the process with EXIT_REDIS_LOST (serving on
    without a store would only answer `unavailable` for ever)."""
    while True:
        await asyncio.sleep(poll_s)
        code = embedded.exit_code()
        if code is None:
            continue
        log.error("embedded redis-server exited with code %s; restarting it (AOF reload)", code)
        await _restart(embedded)
        started()


async def _restart(embedded: EmbeddedRedis) -> None:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            await embedded.stop()
            await embedded.start()
        except EmbeddedRedisError as exc:
            log.error("restart %d of %d failed: %s", attempt, MAX_ATTEMPTS, exc)
            if attempt < MAX_ATTEMPTS:
                await asyncio.sleep(RETRY_S * attempt)
            continue
        log.warning("embedded redis-server restarted (pid %s)", embedded.pid)
        return
    message = (f"the embedded redis-server could not be restarted after {MAX_ATTEMPTS} "
               f"attempts; see {embedded.log_path}. Exiting.")
    log.critical(message)
    print(f"leadgrab: {message}", file=sys.stderr, flush=True)
    os._exit(EXIT_REDIS_LOST)  # no store to serve from: sockets drop, the lock goes with us
