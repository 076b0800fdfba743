"""The `leadgrab publish` and `leadgrab rep` commands against real servers (in-process and not)."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest
from aiohttp.test_utils import unused_port

from leadgrab.cli import main
from server.web.auth import Role, TokenAuthority
from tests.conftest import BASE_CONFIG, ROOT, SECRET, Gateway

# Ctrl-C as in a terminal's foreground: a shell that ran pytest in the background (`cmd &`,
# no job control) leaves SIGINT ignored, children inherit that, and Python then keeps it so
MAIN = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "from leadgrab.cli import main; raise SystemExit(main())")


def write_config(folder: Path) -> Path:
    """The gateway's config as a file: same secret and rules, data in `folder`."""
    server = f'[server]\ndata_dir = "{folder}"\nsecret = "{SECRET}"\n'
    path = folder / "config.toml"
    path.write_text(server + BASE_CONFIG.replace("[server]\nstream_maxlen = 10000\n", ""))
    return path


async def run_cli(*argv: str) -> int:
    """`leadgrab ...` in a thread: it runs its own event loop, the server runs on ours."""
    return await asyncio.wait_for(asyncio.to_thread(main, list(argv)), 15)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No token from the environment; drop the log handler `main` adds to a captured stderr."""
    monkeypatch.delenv("LEADGRAB_TOKEN", raising=False)
    root = logging.getLogger()
    before = list(root.handlers)
    yield
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)


async def test_publish_mints_a_token_from_the_config(
    gateway: Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    base = gateway.url("/").rstrip("/")
    code = await run_cli(
        "publish", "--team", "north", "--value", "250", "--id", "P1", "--region", "north",
        "--skills", "solar", "--priority", "4", "--customer", "C-1", "--attr", "source=cli",
        "--attr", "employees=40", "--url", base, "--config", str(write_config(tmp_path)))
    assert code == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (answer["lead_id"], answer["created"]) == ("P1", True)
    headers = {"Authorization": f"Bearer {gateway.role_token(Role.MANAGER)}"}
    async with aiohttp.ClientSession() as http, \
            http.get(f"{base}/api/leads/P1", headers=headers) as resp:
        assert resp.status == 200
        assert "C-1" in json.dumps(await resp.json())


async def test_publish_bad_request_exits_non_zero_readably(
    gateway: Gateway, capsys: pytest.CaptureFixture[str],
) -> None:
    base, token = gateway.url("/").rstrip("/"), gateway.role_token(Role.INTEGRATION)
    code = await run_cli("publish", "--team", "nowhere", "--value", "1", "--url", base,
                         "--token", token)
    err = capsys.readouterr().err
    assert code == 1
    assert "HTTP 400 bad_field: team: unknown team 'nowhere'" in err
    assert "Traceback" not in err
    assert await run_cli("publish", "--team", "north", "--value", "1", "--url", base,
                         "--token", "nope") == 1
    assert "HTTP 401 auth_failed" in capsys.readouterr().err
    assert await run_cli("publish", "--team", "north", "--value", "1", "--attr", "oops",
                         "--token", token) == 2
    assert "expected KEY=VALUE" in capsys.readouterr().err


async def test_publish_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{unused_port()}"
    assert await run_cli("publish", "--team", "north", "--value", "1", "--url", url,
                         "--token", "t") == 1
    err = capsys.readouterr().err
    assert "cannot reach" in err and "Traceback" not in err


async def test_rep_refused_token_or_none(gateway: Gateway,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert await run_cli("rep", "--auto-claim") == 2
    assert "LEADGRAB_TOKEN" in capsys.readouterr().err
    assert await run_cli("rep", "--auto-claim", "--url", gateway.ws_url, "--token", "bad") == 1
    err = capsys.readouterr().err
    assert "4001" in err and "Traceback" not in err


@asynccontextmanager
async def process(*argv: str, out: int | IO[Any]) -> AsyncIterator[asyncio.subprocess.Process]:
    """`leadgrab argv...` as a child process, interrupted (then killed) on the way out."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", MAIN, *argv, cwd=ROOT, stdin=asyncio.subprocess.DEVNULL,
        stdout=out, stderr=asyncio.subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# The waits below end on what they wait for, or on the process ending; not on a clock (a busy
# machine may take many seconds to start a process): pytest's timeout bounds the test.

async def until_healthy(url: str, server: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        while server.returncode is None:
            try:
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"the server exited ({server.returncode}) before it was healthy")


async def read_until(proc: asyncio.subprocess.Process, text: str, seen: list[str]) -> None:
    assert proc.stdout is not None
    while text not in "".join(seen):
        line = await proc.stdout.readline()
        assert line, f"process ended before {text!r}: {''.join(seen)}"
        seen.append(line.decode())


async def test_rep_auto_claim_wins_against_a_served_process(
    redis: Any, redis_url: str, tmp_path: Path,
) -> None:
    config, port = write_config(tmp_path), unused_port()
    base, authority = f"http://127.0.0.1:{port}", TokenAuthority(SECRET)
    token = authority.mint(Role.REP, "alice", team="north", ttl_s=600)
    with (tmp_path / "serve.log").open("w") as log:
        async with process("serve", "--config", str(config), "--port", str(port),
                           "--redis-url", redis_url, out=log) as server:
            await until_healthy(base, server)
            async with process("rep", "--auto-claim", "--url", f"ws://127.0.0.1:{port}/ws",
                               "--token", token, out=asyncio.subprocess.PIPE) as rep:
                seen: list[str] = []
                await read_until(rep, "connected as alice", seen)
                code = await run_cli("publish", "--team", "north", "--value", "75", "--id",
                                     "AUTO1", "--region", "north", "--url", base,
                                     "--config", str(config))
                assert code == 0
                await read_until(rep, "claim AUTO1: won", seen)
                rep.send_signal(signal.SIGINT)
                assert await rep.wait() == 0  # Ctrl-C ends the session cleanly
    assert "lead AUTO1  value=75  region=north" in "".join(seen)


def test_leadgrab_has_the_server_and_the_client_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """leadgrab.cli composes both command sets; server.cli alone has the server's."""
    from server import cli as server_cli

    commands = ("serve", "check-config", "reload", "token", "rep", "publish")
    for command in commands:
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0 and f"usage: leadgrab {command}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        server_cli.main(["rep", "--help"])
    assert "invalid choice: 'rep'" in capsys.readouterr().err
