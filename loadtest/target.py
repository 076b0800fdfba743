"""The server under test: one spawned with a generated config and Redis, or one already running."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from redis.asyncio import Redis, RedisCluster

from loadtest import machine, serverconfig
from server.store import backend, keys
from server.store.embedded import EmbeddedRedis
from server.web.auth import Role, TokenAuthority

TOKEN_TTL_S = 6 * 3600
READY_S = 60.0
STOP_S = 10.0


class TargetError(Exception):
    """The server under test could not be started or reached."""


@dataclass(frozen=True)
class Target:
    """Where the server is, how to mint its tokens and (when known) its Redis and process."""

    http_url: str
    secret: str
    team: str
    redis_url: str | None
    server_pid: int | None

    @property
    def ws_url(self) -> str:
        return self.http_url.replace("http", "ws", 1).rstrip("/") + "/ws"

    def rep_tokens(self, count: int) -> list[tuple[int, str, str]]:
        """(index, rep id, token) for the first `count` reps."""
        authority = TokenAuthority(self.secret)
        return [(i, serverconfig.rep_id(i),
                 authority.mint(Role.REP, serverconfig.rep_id(i), team=self.team,
                                ttl_s=TOKEN_TTL_S)) for i in range(count)]

    def integration_token(self) -> str:
        return TokenAuthority(self.secret).mint(Role.INTEGRATION, "loadtest", ttl_s=TOKEN_TTL_S)


@contextlib.asynccontextmanager
async def spawned(reps: int, how: serverconfig.Arbitration, workdir: Path,
                  redis_url: str | None = None,
                  command: list[str] | None = None, workers: int = 1) -> AsyncIterator[Target]:
    """A `leadgrab serve` child on a free port with a generated config and its own Redis."""
    async with _redis(workdir, redis_url) as url:
        port, secret = free_port(), serverconfig.new_secret()
        config = workdir / "config.toml"
        config.write_text(serverconfig.render(reps, how, port, workdir / "data", secret))
        proc = _start(command or server_command(), config, port, url, workdir / "server.log",
                      workers)
        try:
            http_url = f"http://127.0.0.1:{port}"
            await _wait_ready(proc, http_url, workdir / "server.log")
            yield Target(http_url, secret, serverconfig.TEAM, url, proc.pid)
        finally:
            await _stop(proc)


@contextlib.asynccontextmanager
async def _redis(workdir: Path, given: str | None) -> AsyncIterator[str]:
    if given:
        yield given
        return
    async with EmbeddedRedis(workdir / "redis") as url:
        yield url


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_command(loop: str = "asyncio") -> list[str]:
    """`leadgrab` next to this Python; with loop "uvloop", the same entry point on uvloop."""
    script = Path(sys.executable).parent / "leadgrab"
    if loop == "asyncio" and script.exists():
        return [str(script)]
    setup = "import uvloop; uvloop.install(); " if loop == "uvloop" else ""
    return [sys.executable, "-c",
            f"import sys; {setup}from server.cli import main; sys.exit(main(sys.argv[1:]))"]


def _start(command: list[str], config: Path, port: int, redis_url: str,
           log: Path, workers: int = 1) -> subprocess.Popen[bytes]:
    argv = [*command, "serve", "--config", str(config), "--port", str(port),
            "--redis-url", redis_url, *(["--workers", str(workers)] if workers > 1 else [])]
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                preexec_fn=machine.server_child_setup, cwd=config.parent)


async def _wait_ready(proc: subprocess.Popen[bytes], http_url: str, log: Path) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(READY_S / 0.1)):
            if proc.poll() is not None:
                raise TargetError(f"the server exited with {proc.returncode}: {tail(log)}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{http_url}/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise TargetError(f"the server was not healthy within {READY_S:.0f} s: {tail(log)}")


async def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        for _ in range(int(STOP_S / 0.05)):
            if proc.poll() is not None:
                return
            await asyncio.sleep(0.05)
        proc.kill()
        proc.wait()


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, for error messages."""
    try:
        return "\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


async def team_node(url: str | None, team: str) -> str | None:
    """The URL of the Redis holding the team's keys: `url` itself, unless it names a node of a
    Redis Cluster; then the node owning the team's slot (same credentials and options), so
    that the audit check and the ceilings talk to it directly with plain commands."""
    if url is None or not await backend.is_cluster(url):
        return url
    cluster = await backend.connect(url)
    try:
        assert isinstance(cluster, RedisCluster)
        node = cluster.get_node_from_key(keys.events(team))
    finally:
        await cluster.aclose()
    if node is None:
        raise TargetError(f"no node of the cluster serves team {team}'s slot")
    parts = urlsplit(url)
    auth, _, _ = parts.netloc.rpartition("@")
    where = f"{node.host}:{node.port}"
    return urlunsplit(parts._replace(netloc=f"{auth}@{where}" if auth else where))


async def redis_version(url: str | None) -> str | None:
    """The Redis server's version, when its URL is known."""
    if url is None:
        return None
    client = Redis.from_url(url, decode_responses=True)
    try:
        info = await client.info("server")
        return str(info.get("redis_version"))
    finally:
        await client.aclose()

