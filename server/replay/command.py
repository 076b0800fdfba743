"""`leadgrab replay`: exact replay of an audit export, or a what-if under a new config."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from server.config import load_config
from server.replay import report as reports
from server.replay.record import RecordError, read_jsonl
from server.replay.runs import exact, from_redis, whatif

EPILOG = """exit status: 0 all decisions matched (or a what-if ran), 1 mismatches, 2 bad input.
The audit is a GET /api/audit?format=jsonl export, or read with --redis-url and --team (which
also brings the kept rules versions)."""


def register(sub: Any) -> None:
    """Add the replay command to `leadgrab`'s subcommands."""
    cmd = sub.add_parser("replay", help="replay an audit through the scripts; what-if with "
                         "--config", epilog=EPILOG)
    cmd.add_argument("audit", nargs="?", type=Path, help="JSONL audit export")
    cmd.add_argument("--redis-url", help="read the team's audit (and rules history) here")
    cmd.add_argument("--team", help="the team (default: the one the publishes name)")
    cmd.add_argument("--config", "-c", type=Path, help="what-if: replay under these rules")
    cmd.add_argument("--retry-rejected", action="store_true",
                     help="what-if: a rejected attempt is retried after retry_after_ms")
    cmd.add_argument("--json", action="store_true", help="print JSON")
    cmd.add_argument("--html", type=Path, help="what-if: write the report as HTML here")
    cmd.add_argument("--png", type=Path, help="what-if: write the per-rep chart as PNG here")
    cmd.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_main(args))
    except RecordError as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return 2


async def _main(args: argparse.Namespace) -> int:
    entries, history = await _source(args)
    if args.config is None:
        comparison, seconds = await exact(entries, history, args.team)
        if args.json:
            print(json.dumps({**comparison.as_json(), "replay_seconds": round(seconds, 3)}))
        else:
            print(comparison.text())
            print(f"replayed {len(entries)} entries in {seconds:.2f} s")
        return 0 if comparison.matched == comparison.total and not comparison.mismatches else 1
    found = await whatif(entries, load_config(args.config), args.team, args.retry_rejected)
    print(json.dumps(found.as_json()) if args.json else reports.text(found))
    if args.html:
        args.html.write_text(reports.page(found), encoding="utf-8")
    if args.png:
        reports.png(found, str(args.png))
    return 0


async def _source(args: argparse.Namespace) -> tuple[list[dict[str, str]], dict[int, str]]:
    if args.audit is None and not (args.redis_url and args.team):
        raise RecordError("give an AUDIT file, or --redis-url and --team")
    history: dict[int, str] = {}
    if args.redis_url and args.team:
        entries, history = await from_redis(args.redis_url, args.team)
    if args.audit is not None:
        try:
            with args.audit.open(encoding="utf-8") as lines:
                entries = read_jsonl(lines)
        except OSError as exc:
            raise RecordError(f"{args.audit}: {exc.strerror}") from None
    return entries, history
