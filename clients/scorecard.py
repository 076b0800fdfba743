"""`leadgrab scorecard`: a team's scores, or one rep's score explained term by term."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

from clients import address
from server.config import Config, ConfigError, load_config
from server.web.auth import Role, TokenAuthority, existing_secret

TOKEN_ENV = "LEADGRAB_TOKEN"
HTTP_TIMEOUT_S = 30.0
TOKEN_TTL_S = 300


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `leadgrab scorecard` on the `leadgrab` parser."""
    cmd = sub.add_parser("scorecard", help="show scores over the scorecard window: a team's, or"
                                           " one rep's term by term (--rep)")
    cmd.add_argument("--team", help="the team (default: the only one)")
    cmd.add_argument("--rep", help="one rep: figures, and each term's raw value, weight and "
                                   "contribution")
    cmd.add_argument("--json", action="store_true", help="print the API's JSON")
    cmd.add_argument("--url", help="the server, e.g. http://host:8080 (default: from the config)")
    cmd.add_argument("--token", help=f"a manager's (or the rep's own) token (default: "
                                     f"${TOKEN_ENV}, else a manager token minted from the "
                                     "config's secret)")
    cmd.add_argument("--config", "-c", type=Path, default=None,
                     help="config.toml naming the server (default: ./config.toml)")
    cmd.set_defaults(func=run_scorecard)


def run_scorecard(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get(TOKEN_ENV)
    try:  # the config names the server and signs a token, unless both are given
        config = None if token and args.url and not args.config else \
            load_config(args.config or Path("config.toml"))
        token = token or _manager_token(config)
        url = address.base_url(config, args.url)
    except (ValueError, ConfigError) as exc:
        return _fail(exc, 2)
    path = f"/api/reps/{args.rep}/scorecard" if args.rep else "/api/scorecards"
    params = {"team": args.team} if args.team and not args.rep else {}
    try:
        status, answer = asyncio.run(_get(url, token, path, params))
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return _fail(f"cannot reach the server at {url} ({exc or type(exc).__name__})")
    if status >= 400:
        error = answer.get("error", {}) if isinstance(answer, dict) else {}
        return _fail(f"HTTP {status} {error.get('code')}: {error.get('message')}")
    print(json.dumps(answer, indent=2) if args.json else
          (explain(answer) if args.rep else table(answer)))
    return 0


def _manager_token(config: Config | None) -> str:
    if config is None:
        raise ValueError(f"give --token or set {TOKEN_ENV}")
    secret = existing_secret(config.server.secret or None,
                             data_dir=Path(config.server.data_dir), where="the config")
    return TokenAuthority(secret).mint(Role.MANAGER, "cli-scorecard", ttl_s=TOKEN_TTL_S)


async def _get(base_url: str, token: str, path: str,
               params: dict[str, str]) -> tuple[int, Any]:
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(timeout=timeout) as http, \
            http.get(base_url.rstrip("/") + path, params=params, headers=headers) as resp:
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, {"error": {"code": "http", "message": text[:200]}}


def _fail(message: object, code: int = 1) -> int:
    print(f"leadgrab scorecard: {message}", file=sys.stderr)
    return code


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def table(answer: dict[str, Any]) -> str:
    """A team's scorecards, best first: one line per rep."""
    cards = answer.get("scorecards", [])
    lines = [f"team {answer.get('team')}: {len(cards)} reps"
             + (f", {cards[0]['window']['since']} .. {cards[0]['window']['until']}"
                if cards else ""),
             f"{'rep':<16}{'score':>9}  {'tier':<10}{'taken':>6}{'conv':>7}{'kept':>6}"
             f"{'recyc':>6}{'rating':>7}{'upheld':>7}"]
    for c in cards:
        f = c["figures"]
        lines.append(f"{c['rep']:<16}{c['score']:>9.2f}  {c['tier'] or '-':<10}"
                     f"{f['leads_taken']:>6}{_num(f['conversion']):>7}{f['deadlines_kept']:>6}"
                     f"{f['recycles']:>6}{_num(f['average_rating']):>7}"
                     f"{f['upheld_complaints']:>7}")
    return "\n".join(lines)


def explain(card: dict[str, Any]) -> str:
    """One rep's score, term by term (contribution = weight x raw)."""
    window = card["window"]
    lines = [f"{card['rep']} ({card['team']}, tier {card['tier'] or '-'}): score "
             f"{card['score']:.2f} over {window['since']} .. {window['until']}",
             f"{'term':<26}{'raw':>10}{'weight':>9}{'contribution':>14}"]
    for t in card["terms"]:
        lines.append(f"{t['component']:<26}{_num(t['raw']):>10}{t['weight']:>9.2f}"
                     f"{t['contribution']:>14.2f}")
    return "\n".join(lines)
