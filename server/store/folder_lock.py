"""The exclusive lock on the embedded Redis's data folder: one redis-server per set of files."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from server.store.embedded import EmbeddedRedisError

LOCK_NAME = "lock"
WAIT_S = 10.0  # how long a starting server waits for a previous one's Redis to finish saving
_POLL_S = 0.1


class FolderLock:
    """An flock on `folder/lock`, held by this process and inherited by its redis-server.

    The redis-server child inherits the locked file, so the lock lasts until both are gone:
    a server restarted while the old redis-server is still writing its final save waits for
    it instead of starting a second one on the same files (whose exit would then delete the
    new socket). The file names the holder, for the message a refused server prints.
    """

    def __init__(self, folder: Path, wait_s: float = WAIT_S) -> None:
        self.path = Path(folder).absolute() / LOCK_NAME
        self.wait_s = wait_s
        self._fd: int | None = None

    @property
    def fd(self) -> int:
        """The locked file's descriptor, to hand down to the redis-server child."""
        if self._fd is None:
            raise EmbeddedRedisError(f"{self.path} is not locked")
        return self._fd

    async def acquire(self) -> None:
        """Lock the folder, waiting up to `wait_s`; refuse naming the holder after that."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            await self._wait_for(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self.record(f"leadgrab pid {os.getpid()}")

    async def _wait_for(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while not _try_lock(fd):
            if loop.time() >= deadline:
                raise EmbeddedRedisError(
                    f"the data folder {self.path.parent} is in use by {self.holder()} "
                    f"(still locked after {self.wait_s:.0f} s): stop that server first, or "
                    "give this one another data_dir or a redis_url")
            await asyncio.sleep(_POLL_S)

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it."""
        with contextlib.suppress(OSError):
            text = self.path.read_text(errors="replace").strip()
            if text:
                return text
        return "another process"

    def record(self, text: str) -> None:
        """Replace the holder's description (e.g. once its redis-server has a pid)."""
        fd = self.fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, text.encode() + b"\n", 0)

    def release(self) -> None:
        """Close this process's handle; the lock ends once the redis-server has exited too."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    async def __aenter__(self) -> FolderLock:
        await self.acquire()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
