"""Typed keys of the aiohttp application state."""

from __future__ import annotations

import weakref
from pathlib import Path

from aiohttp import web

from server.config import Config
from server.fanout.board_feed import BoardFeed
from server.fanout.hub import Hub
from server.fanout.returns import ReturnOffers
from server.floor.arbiter import Arbiter
from server.floor.claims import Claims
from server.floor.scoreboard import Scoreboard
from server.floor.scorecard import Scorecards
from server.floor.tiers import TierDesk
from server.floor.timers import Timers
from server.metrics import Metrics
from server.web.auth import TokenAuthority

CONFIG = web.AppKey("config", Config)
CONFIG_PATH = web.AppKey("config_path", Path)
ARBITER = web.AppKey("arbiter", Arbiter)
CLAIMS = web.AppKey("claims", Claims)
TIMERS = web.AppKey("timers", Timers)
HUB = web.AppKey("hub", Hub)
SCOREBOARD = web.AppKey("scoreboard", Scoreboard)
METRICS = web.AppKey("metrics", Metrics)
AUTHORITY = web.AppKey("authority", TokenAuthority)
SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("sockets")
BOARD_FEED = web.AppKey("board_feed", BoardFeed)
WHATIF_RUNNING: web.AppKey[set[str]] = web.AppKey("whatif_running")  # teams with a what-if
RETURNS = web.AppKey("returns", ReturnOffers)  # open leads offered to reps coming back
SCORECARDS = web.AppKey("scorecards", Scorecards)
TIER_DESK = web.AppKey("tier_desk", TierDesk)
