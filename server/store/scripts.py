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
    "record_feedback", "rule_complaint", "appeal_complaint", "lift_pause", "file_dispute",
    "resolve_dispute",
    "claimable_leads", "tally_scores", "record_tier",
    "timer_schedule",
)
_INCLUDE = re.compile(r'^-- @include "([\w/.-]+)"\s*$', re.MULTILINE)


def lua_dir() -> Path:
    """The folder holding the scripts: `server/lua` in a wheel, `lua/` in a checkout."""
    packaged = Path(str(resources.files("server"))) / "lua"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "lua"


class IncludeError(ValueError):
    """A script's includes cannot be resolved: a missing file or a cycle (both named)."""


def source(name: str, root: Path | None = None) -> str:
    """A script's text with its `-- @include "lib/x.lua"` lines replaced by the files.

    Includes are resolved recursively, depth first (a library's own includes come before its
    text), and each file is included once per script: later includes of it become nothing.
    """
    return _expand(root or lua_dir(), f"{name}.lua", [], set())


def _expand(root: Path, path: str, chain: list[str], done: set[str]) -> str:
    """`path` with its includes expanded; `chain` is the include path to it, `done` what the
    script already holds."""
    if path in chain:
        raise IncludeError("include cycle: " + " -> ".join([*chain, path]))
    file = root / path
    if not file.is_file():
        where = f" (included by {chain[-1]})" if chain else ""
        raise IncludeError(f"missing Lua file {path}{where}")
    done.add(path)
    text = file.read_text(encoding="utf-8")

    here = [*chain, path]

    def include(match: re.Match[str]) -> str:
        target = match.group(1)
        if target in done and target not in here:
            return ""  # already in the script
        return _expand(root, target, here, done).rstrip("\n")

    return _INCLUDE.sub(include, text)


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
    record_feedback: AsyncScript
    rule_complaint: AsyncScript
    appeal_complaint: AsyncScript
    lift_pause: AsyncScript
    file_dispute: AsyncScript
    resolve_dispute: AsyncScript
    claimable_leads: AsyncScript
    tally_scores: AsyncScript
    record_tier: AsyncScript
    timer_schedule: AsyncScript


def register(redis: Client) -> Scripts:
    """Register every script with a client; nothing is sent until first use."""
    return Scripts(**{name: redis.register_script(source(name)) for name in NAMES})
