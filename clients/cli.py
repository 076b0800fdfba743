"""Client-side subcommands of `leadgrab`: `rep` (live leads and claims) and `publish`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import aiohttp
from websockets.exceptions import InvalidURI

from clients import publish
from clients.client import LeadGrabClient, SessionClosed
from clients.rep import RepSession, stdin_lines
from server.protocol import Codec

TOKEN_ENV = "LEADGRAB_TOKEN"


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the client subcommands on the `leadgrab` parser."""
    rep = sub.add_parser("rep", help="watch leads live and claim them (Enter claims the newest)")
    rep.add_argument("--token", help=f"the rep's bearer token (default: ${TOKEN_ENV})")
    rep.add_argument("--url", default="ws://127.0.0.1:8080/ws", help="the server's WebSocket")
    rep.add_argument("--auto-claim", action="store_true", help="claim every lead as it arrives")
    rep.add_argument("--msgpack", action="store_true", help="speak msgpack instead of JSON")
    rep.set_defaults(func=run_rep)
    pub = sub.add_parser("publish", help="publish one lead over HTTP")
    pub.add_argument("--team", required=True)
    pub.add_argument("--value", type=float, required=True, help="estimated value")
    pub.add_argument("--id", dest="lead_id", help="lead id (publishing it twice publishes once)")
    pub.add_argument("--region")
    pub.add_argument("--skills", help="required skills, comma-separated")
    pub.add_argument("--priority", type=int, help="urgency 0-9")
    pub.add_argument("--customer", help="customer id")
    pub.add_argument("--attr", action="append", metavar="KEY=VALUE", help="repeatable")
    pub.add_argument("--url", default="http://127.0.0.1:8080", help="the server's base URL")
    pub.add_argument("--token", help=f"integration token (default: ${TOKEN_ENV}, else minted "
                                     "from the config's secret)")
    pub.add_argument("--config", "-c", type=Path, default=Path("config.toml"),
                     help="config whose secret mints a token when none is given")
    pub.set_defaults(func=run_publish)


def _fail(command: str, message: object, code: int = 1) -> int:
    print(f"leadgrab {command}: {message}", file=sys.stderr)
    return code


def run_rep(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        return _fail("rep", f"give --token or set {TOKEN_ENV}", 2)
    codec = Codec.MSGPACK if args.msgpack else Codec.JSON
    try:
        asyncio.run(_rep(args.url, token, codec, args.auto_claim))
    except (SessionClosed, InvalidURI) as exc:
        return _fail("rep", exc)
    except KeyboardInterrupt:
        pass
    return 0


async def _rep(url: str, token: str, codec: Codec, auto_claim: bool) -> None:
    client = LeadGrabClient(url, token, codec=codec)
    try:
        await RepSession(client, auto_claim=auto_claim).run(None if auto_claim else stdin_lines())
    finally:
        await client.aclose()


def run_publish(args: argparse.Namespace) -> int:
    try:
        body = publish.lead_body(args.team, args.value, lead_id=args.lead_id, region=args.region,
                                 skills=args.skills, priority=args.priority,
                                 customer=args.customer, attrs=args.attr)
        token = (args.token or os.environ.get(TOKEN_ENV)
                 or publish.integration_token(args.config))
    except ValueError as exc:  # a bad --attr, or a secret too short to sign with
        return _fail("publish", exc, 2)
    try:
        status, answer = asyncio.run(publish.post_lead(args.url, token, body))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return _fail("publish", f"cannot reach {args.url}: {str(exc) or type(exc).__name__}")
    if status >= 400:
        return _fail("publish", publish.error_message(status, answer))
    print(json.dumps(answer))
    return 0
