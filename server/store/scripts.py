"""Lua sources: found in the package (or the source tree), includes expanded, registered once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from redis.commands.core import AsyncScript

from server.store.backend import Client

NAMES = (
    "load_rules", "publish_lead", "claim_lead", "release_lead", "close_lead", "settle_window",
    "followup_lead", "fire_deadline", "offer_lead", "pause_rep", "dispatch_lead",
    "withdraw_lead", "auto_assign",
)
_INCLUDE = re.compile(r'^-- @include "([\w/.-]+)"\s*$', re.MULTILINE)


def lua_dir() -> Path:
    """The folder holding the scripts: `server/lua` in a wheel, `lua/` in a checkout."""
    packaged = Path(str(resources.files("server"))) / "lua"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "lua"


def source(name: str, root: Path | None = None) -> str:
    """A script's text with its `-- @include "lib/x.lua"` lines replaced by the files."""
    root = root or lua_dir()
    text = (root / f"{name}.lua").read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda m: (root / m.group(1)).read_text(encoding="utf-8"), text)


@dataclass(frozen=True, slots=True)
class Scripts:
    """One registered script per atomic command (EVALSHA, reloaded on NOSCRIPT)."""

    load_rules: AsyncScript
    publish_lead: AsyncScript
    claim_lead: AsyncScript
    release_lead: AsyncScript
    close_lead: AsyncScript
    settle_window: AsyncScript
    followup_lead: AsyncScript
    fire_deadline: AsyncScript
    offer_lead: AsyncScript
    pause_rep: AsyncScript
    dispatch_lead: AsyncScript
    withdraw_lead: AsyncScript
    auto_assign: AsyncScript


def register(redis: Client) -> Scripts:
    """Register every script with a client; nothing is sent until first use."""
    return Scripts(**{name: redis.register_script(source(name)) for name in NAMES})
