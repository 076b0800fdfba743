"""The transport ceiling: a plain aiohttp WebSocket echo server, run as its own process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence

from aiohttp import WSMsgType, web

from loadtest import machine
from loadtest.target import free_port
from server.protocol import SUBPROTOCOLS

READY_S = 30.0


async def handle(request: web.Request) -> web.StreamResponse:
    """GET /ws: every text or binary frame goes straight back, like the server's settings."""
    ws = web.WebSocketResponse(protocols=SUBPROTOCOLS, heartbeat=20, max_msg_size=65536)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/ws", handle)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m loadtest.echo --port N`."""
    parser = argparse.ArgumentParser(prog="loadtest.echo", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    machine.raise_nofile()
    web.run_app(create_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


@contextlib.asynccontextmanager
async def running() -> AsyncIterator[tuple[str, int]]:
    """An echo server child process; yields its ws:// URL and pid."""
    port = free_port()
    proc = _spawn(port)
    try:
        await _wait_listening(proc, port)
        yield f"ws://127.0.0.1:{port}/ws", proc.pid
    finally:
        await asyncio.to_thread(_stop, proc)


def _spawn(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "loadtest.echo", "--port", str(port)],
                            stdin=subprocess.DEVNULL, preexec_fn=machine.server_child_setup)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _wait_listening(proc: subprocess.Popen[bytes], port: int) -> None:
    for _ in range(int(READY_S / 0.05)):
        if proc.poll() is not None:
            raise RuntimeError(f"the echo server exited with {proc.returncode}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"the echo server did not listen on port {port} within {READY_S} s")


if __name__ == "__main__":
    main()
