"""The application factory: wires Redis, the arbiter, the hub, tails and the transports."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry

from server.background import awaiting, stop_requested
from server.config import Config, ConfigError, load_config
from server.fanout import catchup as feed
from server.fanout.hub import Hub
from server.fanout.returns import ReturnOffers
from server.fanout.tail import BLOCK_MS, Tail
from server.floor.arbiter import Arbiter
from server.floor.claims import Claims
from server.floor.scoreboard import Scoreboard
from server.floor.scorecard import Scorecards
from server.floor.tiers import TierDesk, TierSchedule
from server.floor.timers import Timers
from server.metrics import Metrics
from server.protocol import CloseCode
from server.store.event_reader import EventReader
from server.store.keeper import kept
from server.store.keys import Retention
from server.store.persistence import warn_if_lossy
from server.store.store import NowOverride, Store, StoreError
from server.web import (
    board_api,
    complaints_api,
    console,
    errors,
    floor_api,
    http_api,
    leads_api,
    manager_api,
    openapi,
    refusals,
    scorecard_api,
    whatif_api,
    ws,
)
from server.web.appkeys import (
    ARBITER,
    AUTHORITY,
    CLAIMS,
    CONFIG,
    CONFIG_PATH,
    HUB,
    METRICS,
    RETURNS,
    SCOREBOARD,
    SCORECARDS,
    SOCKETS,
    TIER_DESK,
    TIMERS,
)
from server.web.auth import TokenAuthority, load_or_create_secret

log = logging.getLogger(__name__)
RELOAD_POLL_S = 1.0
# a tail that missed its cancel (see background.stop_requested) ends its XREAD and stops
STOP_WAIT_S = BLOCK_MS / 1000 + 1.0
TABLES_REFRESH_S = 6 * 3600
URL_FILE = "url"  # where `leadgrab reload` finds the embedded Redis of a running server


def retention(config: Config) -> Retention:
    """Stream, idempotency and finished-lead retention from the server settings."""
    s = config.server
    return Retention(s.stream_maxlen, s.audit_maxlen, s.idempotency_ttl_s * 1000,
                  s.lead_retention_s * 1000)


@contextlib.asynccontextmanager
async def redis_url(config: Config, override: str | None) -> AsyncIterator[str]:
    """The configured Redis (its persistence checked), or a private embedded redis-server in
    the data folder: locked for this server's life, restarted whenever it dies."""
    url = override or config.server.redis_url
    if url:
        await warn_if_lossy(url, config.server.durability)
        yield url
        return
    folder = Path(config.server.data_dir) / "redis"
    async with kept(folder, config.server.durability) as embedded_url:
        log.info("embedded Redis at %s (appendfsync %s)", embedded_url, config.server.durability)
        (folder / URL_FILE).write_text(embedded_url)
        try:
            yield embedded_url
        finally:
            (folder / URL_FILE).unlink(missing_ok=True)


def create_app(config: Config, *, config_path: Path | None = None, redis: str | None = None,
               clock: NowOverride | None = None,
               registry: CollectorRegistry | None = None) -> web.Application:
    """Build the aiohttp application; Redis and background tasks start with it. `clock`
    overrides the scripts' time (tests): it answers ms, or None for Redis TIME."""
    refusals.install()
    app = web.Application(middlewares=[errors.errors, refusals.path_ids],
                          client_max_size=config.server.max_frame_bytes)
    app[CONFIG] = config
    app[CONFIG_PATH] = config_path or Path("config.toml")
    app[METRICS] = Metrics(registry, config.server.metrics_rep_label_max)
    secret = load_or_create_secret(config.server.secret or None,
                                   data_dir=_data_dir(config))
    app[AUTHORITY] = TokenAuthority(secret)
    app[SOCKETS] = weakref.WeakSet()
    app.cleanup_ctx.append(_running(redis, clock))
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/ws", ws.handle)
    http_api.add_routes(app)
    leads_api.add_routes(app)
    manager_api.add_routes(app)
    whatif_api.add_routes(app)
    floor_api.add_routes(app)
    console.add_routes(app)
    board_api.add_routes(app)
    openapi.add_routes(app)
    complaints_api.add_routes(app)
    scorecard_api.add_routes(app)
    return app


def _data_dir(config: Config) -> Path:
    path = Path(config.server.data_dir)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _running(redis_override: str | None, clock: NowOverride | None,
             ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        async with redis_url(config, redis_override) as url:
            store = await Store.open(url, retention(config), clock)
            store.log_topology()
            arbiter = Arbiter(store, config)
            await arbiter.apply_rules(config)
            hub = Hub(app[METRICS], arbiter.member, lambda: arbiter.roster.members)
            for team in config.teams:
                hub.paused |= await arbiter.paused_reps(team)
            timers = Timers(arbiter, list(config.teams), app[METRICS], hub.settled_here)
            app[ARBITER], app[HUB], app[TIMERS] = arbiter, hub, timers
            app[CLAIMS] = Claims(arbiter, app[METRICS], timers)
            # one client for the tails, a connection each: a blocking XREAD holds its own
            reader = await EventReader.open(url, max(len(config.teams), 1))
            tails = [Tail(reader, hub, app[METRICS], team) for team in config.teams]
            for tail in tails:
                await tail.start()
            tasks = [asyncio.create_task(t.run(), name=f"leadgrab:tail:{t.team}") for t in tails]
            tasks.append(asyncio.create_task(_follow_reloads(arbiter, hub),
                                             name="leadgrab:reloads"))
            tasks.append(asyncio.create_task(timers.run(), name="leadgrab:timers"))
            app[RETURNS] = ReturnOffers(arbiter, hub)
            tasks.append(asyncio.create_task(app[RETURNS].run(), name="leadgrab:returns"))
            app[SCOREBOARD] = Scoreboard(arbiter, app[METRICS])
            app[SCOREBOARD].follow_roster()
            tasks.append(asyncio.create_task(app[SCOREBOARD].run(), name="leadgrab:scoreboard"))
            tasks.append(_scorecards(app, arbiter))
            try:
                yield
            finally:
                await _stop(tasks)
                for r in (reader, store):
                    await r.aclose()
    return ctx


def _scorecards(app: web.Application, arbiter: Arbiter) -> asyncio.Task[None]:
    """The scorecards, the tier desk, and their loop (scores, then the tier schedule)."""
    app[SCORECARDS] = Scorecards(arbiter, app[METRICS])
    app[TIER_DESK] = TierDesk(arbiter)
    schedule = TierSchedule(app[TIER_DESK], app[SCORECARDS])
    return asyncio.create_task(app[SCORECARDS].run(schedule.tick), name="leadgrab:scorecard")


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the background tasks and wait briefly: a task stuck in a Redis call that
    ignores cancellation must not hold up shutdown (its client is closed next)."""
    for task in tasks:
        task.cancel()
    _, stuck = await asyncio.wait(tasks, timeout=STOP_WAIT_S)
    for task in stuck:
        log.error("background task %s did not stop within %.0f s; awaiting:\n%s",
                  task.get_name(), STOP_WAIT_S, awaiting(task))


async def _follow_reloads(arbiter: Arbiter, hub: Hub) -> None:
    """Re-read the roster whenever any instance (or `leadgrab reload`) changed the rules,
    and rewrite the day and shift tables (which look ahead a bounded time) every few hours.

    Polls each team's rules version once a second: one HGET per team, and nothing to
    lose when a connection drops (unlike a pub/sub message). Connected reps whose limits
    changed (here or elsewhere) are sent a `limits` frame.
    """
    loop = asyncio.get_running_loop()
    refreshed, seen = loop.time(), arbiter.roster
    while not stop_requested():
        await asyncio.sleep(RELOAD_POLL_S)
        try:
            if loop.time() - refreshed > TABLES_REFRESH_S:
                await arbiter.refresh_tables()
                refreshed = loop.time()
            if await arbiter.rules_changed():
                await arbiter.refresh_roster()
            if arbiter.roster is not seen:
                seen = arbiter.roster
                await feed.tell_limits(arbiter, hub)
        except StoreError as exc:
            log.warning("rules version check failed: %s", exc)


async def _close_sockets(app: web.Application) -> None:
    if HUB in app:
        app[HUB].close_all(CloseCode.GOING_AWAY, "server shutting down")
    sockets: weakref.WeakSet[web.WebSocketResponse] = app[SOCKETS]
    for sock in [*sockets]:
        await sock.close(code=CloseCode.GOING_AWAY, message=b"server shutting down")


async def reload(app: web.Application) -> None:
    """SIGHUP: re-read the config file; a bad file is logged and the running rules stay."""
    try:
        config = load_config(app[CONFIG_PATH])
    except ConfigError as exc:
        log.error("reload refused, keeping the running rules: %s", exc)
        return
    loads = await app[ARBITER].apply_rules(config)
    log.info("rules reloaded: %s", {x.team: x.version for x in loads})
    await feed.tell_limits(app[ARBITER], app[HUB])
