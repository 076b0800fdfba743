"""Manager HTTP endpoints: fairness figures, and the audit log as pages or a streamed export."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Collection
from typing import Any

from aiohttp import web

from server.floor import audit_log
from server.floor.audit_log import AuditQuery
from server.floor.scoreboard import WINDOWS_MS, Report
from server.protocol import ErrorCode
from server.protocol.limits import LEAD_ID_RULE, REP_ID_RULE, is_lead_id, is_rep_id
from server.store.store import StoreError
from server.web.appkeys import ARBITER, METRICS, SCOREBOARD
from server.web.auth import Role
from server.web.errors import ApiError
from server.web.requests import principal, team_param

log = logging.getLogger(__name__)
LIMIT_MAX = 1000
BOUND = re.compile(r"^\d{1,15}(-\d{1,19})?$")  # ms since the epoch, or a stream entry id
ENTRY_ID = re.compile(r"^\d{1,15}-\d{1,19}$")
AUDIT_PARAMS = ("team", "lead", "rep", "since", "until", "limit", "cursor", "format")
EXPORTS: dict[str, tuple[str, Callable[[list[dict[str, str]]], bytes]]] = {
    "jsonl": ("application/x-ndjson", audit_log.jsonl),
    "csv": ("text/csv", audit_log.csv_rows),
}


def _bad(param: str, message: str) -> ApiError:
    return ApiError(400, ErrorCode.BAD_FIELD, f"{param}: {message}")


def _only_known(request: web.Request, known: Collection[str]) -> None:
    for name in request.query:
        if name not in known:
            raise _bad(name, f"unknown parameter (expected: {', '.join(known)})")


async def get_fairness(request: web.Request) -> web.Response:
    """GET /api/fairness?team=&window=1h|24h — per-rep and team figures from the audit."""
    principal(request, Role.MANAGER)
    _only_known(request, ("team", "window"))
    team = team_param(request)
    window = request.query.get("window", "24h")
    if window not in WINDOWS_MS:
        raise _bad("window", f"expected one of: {', '.join(WINDOWS_MS)} (got {window!r})")
    report = await request.app[SCOREBOARD].report(team, window)
    return web.json_response(report_body(report))


def report_body(report: Report) -> dict[str, Any]:
    """A fairness report as JSON (undefined figures are null)."""
    reps = {rep: {**dataclasses.asdict(f), "eligible": rep in report.eligible}
            for rep, f in sorted(report.figures.reps.items())}
    return {"team": report.team, "window": report.window, "since_ms": report.since_ms,
            "until_ms": report.until_ms, "scanned": report.scanned,
            "truncated": report.truncated, "reps": reps,
            "figures": dataclasses.asdict(report.figures.team)}


def _bound(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is not None and not BOUND.match(value):
        raise _bad(name, f"expected ms since the epoch or an entry id like "
                         f"1700000000000-0 (got {value!r})")
    return value


def _order(value: str, last: bool) -> tuple[int, int]:
    """A bound as (ms, seq); a bare ms as an upper bound covers the whole millisecond."""
    ms, _, seq = value.partition("-")
    return int(ms), int(seq) if seq else (2**64 - 1 if last else 0)


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= LIMIT_MAX:
        raise _bad("limit", f"expected an integer from 1 to {LIMIT_MAX} (got {raw!r})")
    return int(raw)


def _start(request: web.Request, since: str | None) -> str:
    cursor = request.query.get("cursor")
    if cursor is None:
        return since or "-"
    if not ENTRY_ID.match(cursor):
        raise _bad("cursor", f"expected the `next` entry id of a previous page (got {cursor!r})")
    return "(" + cursor


def _filter(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    valid = is_lead_id if name == "lead" else is_rep_id
    if value is not None and not valid(value):
        raise _bad(name, f"expected {LEAD_ID_RULE if name == 'lead' else REP_ID_RULE}")
    return value


def audit_query(request: web.Request) -> AuditQuery:
    """The audit query a request asks for; 400 naming the first bad parameter."""
    _only_known(request, AUDIT_PARAMS)
    team = team_param(request)
    since, until = _bound(request, "since"), _bound(request, "until")
    if since and until and _order(until, True) < _order(since, False):
        raise _bad("until", f"must not be before since ({until!r} < {since!r})")
    return AuditQuery(team, _start(request, since), until or "+", _filter(request, "lead"),
                      _filter(request, "rep"), _limit(request))


async def get_audit(request: web.Request) -> web.StreamResponse:
    """GET /api/audit — a page {entries, next}, or every match as format=jsonl|csv."""
    principal(request, Role.MANAGER)
    query = audit_query(request)
    fmt = request.query.get("format", "json")
    if fmt != "json" and fmt not in EXPORTS:
        raise _bad("format", f"expected json, jsonl or csv (got {fmt!r})")
    if fmt in EXPORTS:
        return await _export(request, query, fmt)
    page = await audit_log.page(request.app[ARBITER], query)
    return web.json_response({"entries": page.entries, "next": page.next})


async def _export(request: web.Request, query: AuditQuery, fmt: str) -> web.StreamResponse:
    """Stream every matching entry; a Redis fault mid-way cuts the body short (no clean end)."""
    content_type, encode = EXPORTS[fmt]
    resp = web.StreamResponse(headers={
        "Content-Type": f"{content_type}; charset=utf-8",
        "Content-Disposition": f'attachment; filename="audit-{query.team}.{fmt}"'})
    await resp.prepare(request)
    if fmt == "csv":
        await resp.write(audit_log.csv_rows([], header=True))
    try:
        async for batch in audit_log.export(request.app[ARBITER], query):
            await resp.write(encode(batch))
    except StoreError as exc:
        request.app[METRICS].redis_errors.inc()
        log.warning("audit export of %s cut short: %s", query.team, exc)
        if request.transport is not None:
            request.transport.close()
        return resp
    await resp.write_eof()
    return resp


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/fairness", get_fairness)
    app.router.add_get("/api/audit", get_audit)
