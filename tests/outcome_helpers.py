"""Shared by the complaint and dispute tests: a floor with penalties, and Redis snapshots."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from server.floor.arbiter import Arbiter
from server.store import keys
from server.store.outcome_keys import FeedbackIn

RULES = ("max_open = 3\nmax_daily = 50\ncooldown_after_claim_ms = 0\n"
         "penalty_cooldown_ms = 60000\n")
FLOOR = (f'[teams.north]\nprotection_period_ms = 86400000\nowner_window_ms = 60000\n'
         f'[teams.north.rules]\n{RULES}'
         f'[teams.north.complaints]\nappeal_window_ms = 86400000\n'
         f'[teams.north.rules.complaint_penalties]\n'
         f'rude = {{ cooldown_ms = 600000, pause_ms = 3600000, points = 5 }}\n'
         f'no_contact = {{ cooldown_ms = 1000 }}\n\n'
         '[[reps]]\nid = "ann"\nteam = "north"\n\n[[reps]]\nid = "ben"\nteam = "north"\n\n'
         '[[reps]]\nid = "cat"\nteam = "north"\n')


def complaint(ref: str, lead: str = "L1", category: str = "rude",
              contact_at_ms: int | None = None) -> FeedbackIn:
    return FeedbackIn(ref, lead, "integration:crm", "complaint", None, category,
                      "was rude on the phone", contact_at_ms)


def rating(ref: str, value: int, lead: str = "L1") -> FeedbackIn:
    return FeedbackIn(ref, lead, "integration:crm", "rating", value, "", "", None)


async def snapshot(redis: Redis) -> dict[str, Any]:
    """Every key and its whole content (to show a refused command changed nothing)."""
    found: dict[str, Any] = {}
    for key in sorted(await redis.keys("*")):
        kind = await redis.type(key)
        if kind == "hash":
            found[key] = await redis.hgetall(key)
        elif kind == "zset":
            found[key] = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            found[key] = await redis.lrange(key, 0, -1)
        elif kind == "set":
            found[key] = sorted(await redis.smembers(key))
        elif kind == "stream":
            found[key] = await redis.xrange(key)
        else:
            found[key] = await redis.get(key)
    return found


async def audit(redis: Redis, *actions: str) -> list[dict[str, str]]:
    return [f for _, f in await redis.xrange(keys.audit("north")) if f["action"] in actions]


async def events(redis: Redis, kind: str) -> list[dict[str, str]]:
    return [f for _, f in await redis.xrange(keys.events("north")) if f["type"] == kind]


async def rep_field(arbiter: Arbiter, rep: str, name: str) -> str | None:
    state: dict[str, str] = (await arbiter.store.rep_fields("north", rep))["state"]
    return state.get(name)
