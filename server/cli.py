"""The server's commands of `leadgrab`: serve, check-config, reload and token."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TypeAlias

from aiohttp import web

from server import app as application
from server import supervisor
from server.config import Config, ConfigError, load_config
from server.config_scores import scorecard_lines
from server.floor.arbiter import Arbiter
from server.floor.rules import effective_rep
from server.replay import command as replay_command
from server.store.embedded import EmbeddedRedisError
from server.store.store import Store, StoreError
from server.web.auth import (
    Role,
    TokenAuthority,
    existing_secret,
)

log = logging.getLogger("leadgrab")
SECRET_ENV = "LEADGRAB_SECRET"


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", type=Path, default=Path("config.toml"),
                        help="path of config.toml (default: ./config.toml)")


Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def build_parser(*more: Callable[[Commands], None]) -> argparse.ArgumentParser:
    """The server's commands, plus those each of `more` registers (leadgrab.cli adds the
    client's: the server never imports its clients)."""
    parser = argparse.ArgumentParser(prog="leadgrab", description=__doc__)
    parser.add_argument("--version", action="version", version=f"leadgrab {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    add_commands(sub)
    for register in more:
        register(sub)
    return parser


def _version() -> str:
    try:
        return metadata.version("leadgrab")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def add_commands(sub: Commands) -> None:
    """Register serve, check-config, reload, token and replay."""
    serve_cmd = sub.add_parser("serve", help="run the server (embedded Redis unless a URL is set)")
    _config_arg(serve_cmd)
    serve_cmd.add_argument("--host", help="listen address (default: server.host)")
    serve_cmd.add_argument("--port", type=int, help="listen port (default: server.port)")
    serve_cmd.add_argument("--redis-url", help="use this Redis instead of server.redis_url")
    serve_cmd.add_argument("--workers", help="gateway processes on the port, or auto (one per "
                           "core); default: server.workers")
    serve_cmd.add_argument("--reuse-port", action="store_true",
                           help="listen with SO_REUSEPORT (several servers share the port)")
    serve_cmd.set_defaults(func=serve)
    check = sub.add_parser("check-config", help="validate a config and print effective rules")
    check.add_argument("path", nargs="?", type=Path, default=Path("config.toml"))
    check.set_defaults(func=check_config)
    reload_cmd = sub.add_parser("reload", help="apply the config's rules to Redis; servers follow")
    _config_arg(reload_cmd)
    reload_cmd.add_argument("--redis-url", help="Redis to load into (default: config, or embedded)")
    reload_cmd.set_defaults(func=reload)
    token_cmd = sub.add_parser("token", help="mint a bearer token from the configured secret")
    _config_arg(token_cmd)
    token_cmd.add_argument("--rep", help="a rep token for this rep id")
    token_cmd.add_argument("--role", choices=[r.value for r in Role], default=None)
    token_cmd.add_argument("--name", default="cli", help="subject of a manager/integration token")
    token_cmd.add_argument("--ttl", type=int, default=8 * 3600, help="lifetime in seconds")
    token_cmd.add_argument("--link", action="store_true",
                           help="with --rep: print a URL opening the rep console signed in")
    token_cmd.add_argument("--base-url", help="the server as reps reach it (default: host and"
                           " port from the config)")
    token_cmd.add_argument("--teams", help="with --role manager: only these teams (a,b);"
                           " default: every team")
    token_cmd.set_defaults(func=token)
    replay_command.register(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """`leadgrab` with the server's commands only (the full command is leadgrab.cli.main)."""
    return run(build_parser(), argv)


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the command; a config or Redis fault is a message and an exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a reader that went away shows here, not at exit
        return code
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (StoreError, EmbeddedRedisError) as exc:  # e.g. the data folder is in use
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): no traceback, and none at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def check_config(args: argparse.Namespace) -> int:
    config = load_config(args.path)
    print(f"{args.path}: OK — {len(config.teams)} team(s), {len(config.reps)} rep(s)")
    for name, team in config.teams.items():
        print(f"  team {name} returns: " + " ".join(
            f"{k}={v}" for k, v in team.returns.model_dump().items()))
    for rep in config.reps:
        eff = effective_rep(config, rep)
        rules = " ".join(f"{k}={v}" for k, v in eff.rules.model_dump().items())
        state = "active" if eff.active else "inactive"
        print(f"  {rep.id:<16} team={eff.team} tier={eff.tier or '-'} {state} "
              f"regions={','.join(eff.regions)} skills={','.join(eff.skills) or '-'} {rules}")
    for name, team in config.teams.items():
        print(f"  team {name} complaints: categories={','.join(team.complaints.categories)} "
              f"appeal_window_ms={team.complaints.appeal_window_ms}")
    for line in scorecard_lines(config.teams):
        print(line)
    return 0


def _redis_for_cli(config: Config, override: str | None) -> str:
    if override or config.server.redis_url:
        return override or config.server.redis_url
    url_file = Path(config.server.data_dir) / "redis" / application.URL_FILE
    if not url_file.exists():
        raise ConfigError(f"no redis_url configured and no embedded Redis recorded at {url_file}:"
                          " is `leadgrab serve` running with this config?")
    return url_file.read_text().strip()


def reload(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    url = _redis_for_cli(config, args.redis_url)

    async def apply() -> None:
        store = await Store.open(url, application.retention(config), max_connections=4)
        try:
            arbiter = Arbiter(store, config)
            for load in await arbiter.apply_rules(config):
                state = "updated" if load.changed else "unchanged"
                print(f"team {load.team}: rules version {load.version} ({state})")
        finally:
            await store.aclose()

    asyncio.run(apply())
    return 0


def _existing_secret(config: Config, config_path: Path) -> str:
    """The server's signing secret; never a new one, which the server would not know."""
    try:
        return existing_secret(config.server.secret or None,
                               data_dir=Path(config.server.data_dir), where=str(config_path),
                               env_var=SECRET_ENV)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def token(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    authority = TokenAuthority(_existing_secret(config, args.config))
    if args.rep:
        rep = config.rep(args.rep)
        if rep is None:
            raise ConfigError(f"--rep: no rep {args.rep!r} in {args.config}")
        minted = authority.mint(Role.REP, rep.id, team=rep.team, ttl_s=args.ttl)
        print(console_link(config, args.base_url, minted) if args.link else minted)
        return 0
    if args.role is None or args.role == Role.REP:
        raise ConfigError("give --rep ID for a rep token, or --role manager|integration")
    if args.link and args.role != Role.MANAGER:
        raise ConfigError("--link opens the rep console (--rep ID) or the board (--role manager)")
    minted = authority.mint(Role(args.role), args.name, ttl_s=args.ttl,
                            teams=_teams_arg(config, args.teams, Role(args.role)))
    print(console_link(config, args.base_url, minted, "/board") if args.link else minted)
    return 0


def _teams_arg(config: Config, raw: str | None, role: Role) -> list[str] | None:
    """--teams a,b as a list of configured teams (manager tokens only)."""
    if raw is None:
        return None
    teams = [t.strip() for t in raw.split(",") if t.strip()]
    if role != Role.MANAGER or not teams:
        raise ConfigError("--teams: a comma-separated list of teams, with --role manager")
    unknown = [t for t in teams if t not in config.teams]
    if unknown:
        raise ConfigError(f"--teams: no team {unknown[0]!r} in the config")
    return teams


def console_link(config: Config, base_url: str | None, token: str, path: str = "/") -> str:
    """The console (or board) URL with the token in the fragment (browsers never send it to
    the server)."""
    host = config.server.host if config.server.host not in ("", "0.0.0.0", "::") else "localhost"
    base = base_url or f"http://{host}:{config.server.port}"
    return f"{base.rstrip('/')}{path}#token={token}"


def serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    host = args.host or config.server.host
    port = args.port if args.port is not None else config.server.port
    workers = _workers(args.workers or config.server.workers)
    if workers > 1:
        plan = supervisor.Plan(args.config, host, port or supervisor.free_port(host), workers,
                               args.redis_url)
        supervisor.supervise(config, plan)
        return 0
    app = application.create_app(config, config_path=args.config, redis=args.redis_url)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_serve(app, host, port, args.reuse_port))
    return 0


def _workers(setting: int | str) -> int:
    text = str(setting)
    if text != "auto" and not (text.isdigit() and int(text) > 0):
        raise ConfigError(f"--workers: expected a positive number or auto, got {setting!r}")
    return supervisor.worker_count(setting)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (about twice the claims per second of the default loop)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


async def _serve(app: web.Application, host: str, port: int, reuse_port: bool = False) -> None:
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(application.reload(app)))
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
        await site.start()
        gc.freeze()  # start-up's objects live for ever: out of every collection from here on
        log.info("LeadGrab listening on http://%s:%d (WebSocket at /ws)", host, port)
        await stop.wait()
        log.info("shutting down")
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
