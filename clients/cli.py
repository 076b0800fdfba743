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

from clients import address, publish, scorecard
from clients.client import LeadGrabClient, SessionClosed, Unreachable
from clients.rep import RepSession, stdin_lines
from server.config import Config, ConfigError, load_config
from server.protocol import Codec

TOKEN_ENV = "LEADGRAB_TOKEN"
DEFAULT_CONFIG = Path("config.toml")
URL_HELP = ("the server, e.g. http://host:8080 or ws://host:8080/ws (default: [server] public_url,"
            " else host and port, of the config)")
CONFIG_HELP = "config.toml giving the server's address (default: ./config.toml if present)"


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the client subcommands on the `leadgrab` parser."""
    rep = sub.add_parser("rep", help="work a shift: live leads in words, claim, follow up, close"
                                     " (type `help` once connected)")
    rep.add_argument("--token", help=f"the rep's bearer token (default: ${TOKEN_ENV})")
    rep.add_argument("--url", help=URL_HELP)
    rep.add_argument("--config", "-c", type=Path, default=None, help=CONFIG_HELP)
    rep.add_argument("--auto-claim", action="store_true",
                     help="claim every lead as it arrives, and once more after a rejection's"
                          " retry_after_ms")
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
    pub.add_argument("--url", help=URL_HELP)
    pub.add_argument("--token", help=f"integration token (default: ${TOKEN_ENV}, else minted "
                                     "from the config's secret)")
    pub.add_argument("--config", "-c", type=Path, default=None,
                     help=CONFIG_HELP + "; its secret mints a token when none is given")
    pub.set_defaults(func=run_publish)
    scorecard.add_command(sub)


def _fail(command: str, message: object, code: int = 1) -> int:
    print(f"leadgrab {command}: {message}", file=sys.stderr)
    return code


def _config(path: Path | None, url: str | None) -> Config | None:
    """The config naming the server (and its secret): `--config`, else ./config.toml if any."""
    if path is None and (url or not DEFAULT_CONFIG.exists()):
        return None
    return load_config(path or DEFAULT_CONFIG)


def run_rep(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        return _fail("rep", f"give --token or set {TOKEN_ENV}", 2)
    try:
        url = address.ws_url(_config(args.config, args.url), args.url)
    except ConfigError as exc:
        return _fail("rep", exc, 2)
    codec = Codec.MSGPACK if args.msgpack else Codec.JSON
    try:
        asyncio.run(_rep(url, token, codec, args.auto_claim))
    except (SessionClosed, InvalidURI, Unreachable) as exc:
        return _fail("rep", exc)
    except KeyboardInterrupt:
        pass
    return 0


async def _rep(url: str, token: str, codec: Codec, auto_claim: bool) -> None:
    sessions: list[RepSession] = []
    client = LeadGrabClient(url, token, codec=codec, fail_fast=True,
                            on_status=lambda state, detail: sessions[0].on_status(state, detail))
    sessions.append(RepSession(client, auto_claim=auto_claim))
    try:
        await sessions[0].run(stdin_lines())
    finally:
        await client.aclose()


def run_publish(args: argparse.Namespace) -> int:
    try:
        body = publish.lead_body(args.team, args.value, lead_id=args.lead_id, region=args.region,
                                 skills=args.skills, priority=args.priority,
                                 customer=args.customer, attrs=args.attr)
        token = args.token or os.environ.get(TOKEN_ENV)
        config = _config(args.config, None if token is None else args.url)
        token = token or publish.integration_token(config or load_config(DEFAULT_CONFIG))
        url = address.base_url(config, args.url)
    except (ValueError, ConfigError) as exc:  # a bad --attr or config, a too-short secret
        return _fail("publish", exc, 2)
    try:
        status, answer = asyncio.run(publish.post_lead(url, token, body))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        return _fail("publish", f"cannot reach the server at {url} ({reason})")
    if status >= 400:
        return _fail("publish", publish.error_message(status, answer))
    print(json.dumps(answer))
    return 0
