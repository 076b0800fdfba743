"""POST /api/whatif: a manager previews a rules change on the team's recent audit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from server.config import ConfigError, parse_config
from server.floor import audit_log
from server.protocol import ErrorCode
from server.web.appkeys import ARBITER, WHATIF_RUNNING
from server.web.auth import Role
from server.web.errors import ApiError
from server.web.requests import json_body, principal

log = logging.getLogger(__name__)
MAX_ENTRIES = 200_000  # audit entries one what-if may replay
DEFAULT_ENTRIES = 50_000
TIMEOUT_S = 120.0
KNOWN = ("team", "config", "since", "until", "max_entries", "retry_rejected")


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, ErrorCode.BAD_FIELD, f"{field}: {message}")


def _int(body: dict[str, Any], name: str, default: int, top: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise _bad(name, f"expected an integer from 0 to {top} (got {value!r})")
    return value


async def post_whatif(request: web.Request) -> web.Response:
    """Replay up to max_entries of the team's audit (since..until ms) under `config` (TOML
    text) in a separate process; 503 busy while one runs for the team."""
    principal(request, Role.MANAGER)
    body = await json_body(request)
    for name in body:
        if name not in KNOWN:
            raise _bad(name, f"unknown field (expected: {', '.join(KNOWN)})")
    team = body.get("team")
    if team not in request.app[ARBITER].config.teams:
        raise _bad("team", f"expected one of: {', '.join(request.app[ARBITER].config.teams)}")
    if not isinstance(body.get("config"), str):
        raise _bad("config", "expected the new config.toml as a string")
    try:
        config = parse_config(body["config"], "config")
    except ConfigError as exc:
        raise ApiError(400, ErrorCode.INVALID_CONFIG, str(exc)) from None
    if team not in config.teams:
        raise _bad("config", f"the new config has no team {team!r}")
    since, until = _int(body, "since", 0, 2**53), _int(body, "until", 2**53, 2**53)
    limit = _int(body, "max_entries", DEFAULT_ENTRIES, MAX_ENTRIES)
    running: set[str] = request.app[WHATIF_RUNNING]
    if team in running:
        raise ApiError(503, ErrorCode.UNAVAILABLE,
                       f"busy: a what-if is already running for team {team}; try again later")
    running.add(team)
    try:
        entries = await request.app[ARBITER].audit_range(team, str(since), str(until), limit)
        rows = [{"id": entry_id, **fields} for entry_id, fields in entries]
        report = await _run(team, rows, body["config"], body.get("retry_rejected") is True)
    finally:
        running.discard(team)
    report["truncated"] = len(rows) >= limit
    return web.json_response(report)


async def _run(team: str, rows: list[dict[str, str]], config_text: str,
               retry: bool) -> dict[str, Any]:
    """`python -m server.replay` on the rows, off this process's event loop."""
    with tempfile.TemporaryDirectory(prefix="lg-whatif-") as folder:
        audit, config = Path(folder) / "audit.jsonl", Path(folder) / "config.toml"
        audit.write_bytes(audit_log.jsonl(rows))
        config.write_text(config_text, encoding="utf-8")
        args = [str(audit), "--config", str(config), "--team", team, "--json"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.replay", *args, *(["--retry-rejected"] * retry),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise ApiError(503, ErrorCode.UNAVAILABLE, f"the what-if took over {TIMEOUT_S:.0f}"
                                                       " s; replay fewer entries") from None
    if proc.returncode == 2:  # the audit cannot be replayed: the replay says why
        raise ApiError(400, ErrorCode.BAD_FIELD, err.decode(errors="replace").strip())
    if proc.returncode != 0:
        log.error("what-if replay failed (%s): %s", proc.returncode, err.decode()[-2000:])
        raise ApiError(500, ErrorCode.INTERNAL, "the what-if replay failed")
    report: dict[str, Any] = json.loads(out)
    return report


def add_routes(app: web.Application) -> None:
    app[WHATIF_RUNNING] = set()
    app.router.add_post("/api/whatif", post_whatif)
