"""Leads still open when a rep comes back: on shift, resuming, or reconnecting after either.

Each process follows its own connections: when it last saw each rep on duty (not paused, on
shift), or since when it has been away. A rep coming back is sent, as `lead` frames marked
`snapshot`, the open leads they may claim now that were offered to the team while they were
away, newest first, at most the team's `returns.offer_max`. A resume is noticed at once (the
events stream's pause entry); a shift start within TICK_S.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Mapping
from typing import Any

from server import protocol
from server.background import stop_requested
from server.fanout.connection import Connection
from server.fanout.deliveries import Delivery
from server.fanout.hub import Hub, seq_key
from server.floor.arbiter import Arbiter
from server.floor.roster import Member
from server.shifts import intervals
from server.store.store import StoreError

log = logging.getLogger(__name__)
TICK_S = 1.0
PARALLEL = 8  # returning reps whose open leads are read at once, per process
LOOK_BACK_DAYS = 8  # how far back a shift's end is looked for (older: away since ever)


def shift_edges(member: Member, now_ms: int) -> tuple[int, int] | None:
    """(start of the shift on now, or of the next one; end of the shift before it, 0 if none
    within LOOK_BACK_DAYS), or None for a rep without shifts."""
    specs = tuple(member.limits.get("shifts") or ())
    if not specs:
        return None
    spans = intervals(specs, member.timezone, now_ms, LOOK_BACK_DAYS, 1)
    i = next((n for n, (_, end) in enumerate(spans) if end > now_ms), len(spans))
    start = spans[i][0] if i < len(spans) else now_ms
    return start, spans[i - 1][1] if i > 0 else 0


def off_since(member: Member, state: Mapping[str, str], now_ms: int) -> int:
    """When the rep's time off duty that includes now began (now when on duty)."""
    parts = []
    edges = shift_edges(member, now_ms)
    if edges is not None and edges[0] > now_ms:
        parts.append(edges[1])
    if state.get("paused") == "1":
        parts.append(int(state.get("paused_changed_ms") or 0))
    return min(parts, default=now_ms)


def back_since(member: Member, state: Mapping[str, str], now_ms: int,
               after_ms: int) -> int | None:
    """For a rep on duty who came back after `after_ms` (a shift start, a resume): when the
    time away they came back from began; None when they have been on duty since then."""
    starts: list[int] = []
    edges = shift_edges(member, now_ms)
    if edges is not None and edges[0] > after_ms:
        starts.append(edges[1])
    resumed = int(state.get("paused_changed_ms") or 0)
    if state.get("paused") != "1" and "away_from_ms" in state and resumed > after_ms:
        starts.append(int(state["away_from_ms"]))
    return min(starts, default=None)


def back_at(member: Member, state: Mapping[str, str], now_ms: int) -> int:
    """For a rep on duty now: when they came on duty (their shift's start or their last
    resume, the later one). Offers after it reached them live (or in a replay)."""
    edges = shift_edges(member, now_ms)
    start = edges[0] if edges is not None and edges[0] <= now_ms else 0
    resumed = int(state.get("paused_changed_ms") or 0) if state.get("paused") != "1" else 0
    return min(max(start, resumed), now_ms) or now_ms


def paused_from(member: Member, state: Mapping[str, str], away_ms: int) -> int:
    """When a rep seen on duty until `away_ms` went away: the start of the pause they just
    resumed from, if it began later while they were on shift (the pause took them away)."""
    began = int(state.get("away_from_ms") or 0)
    return began if began > away_ms and member.on_shift(began) else away_ms


def replayed_ids(hub: Hub, conn: Connection, member: Member,
                 entries: list[tuple[str, list[Delivery]]]) -> set[str]:
    """The leads whose offers the replay of these entries sent to `conn`."""
    now_ms = int(time.time() * 1000)  # the hub's own clock for offers
    return {item.frame["lead_id"] for _, items in entries for item in items
            if item.frame["type"] == "lead" and hub.visible(conn, member, item, now_ms)}


class ReturnOffers:
    """Follows when each local connection's rep is on duty; offers open leads on return."""

    def __init__(self, arbiter: Arbiter, hub: Hub) -> None:
        self.arbiter, self.hub = arbiter, hub
        self.tasks: set[asyncio.Task[int]] = set()
        self.parallel = asyncio.Semaphore(PARALLEL)

    async def run(self) -> None:
        """Check the connected reps every TICK_S, and at once when one resumes."""
        while not stop_requested():
            try:
                async with asyncio.timeout(TICK_S):
                    await self.hub.woken.wait()
            except TimeoutError:
                pass
            self.hub.woken.clear()
            try:
                await self.tick()
            except StoreError as exc:
                log.warning("return offers check failed: %s", exc)

    async def tick(self) -> None:
        """Note who is on duty now; send open leads to those who came back since last time."""
        now_ms = await self.arbiter.now_ms()
        for conn in list(self.hub.connections()):
            member = self.arbiter.member(conn.rep)
            if member is None or conn.replaying or conn not in self.hub.duty_known:
                continue
            on = conn.rep not in self.hub.paused and member.on_shift(now_ms)
            if on and conn in self.hub.away:
                state = await self._state(member)
                since = paused_from(member, state, self.hub.away.pop(conn))
                self.spawn(conn, member, since, back_at(member, state, now_ms), ())
            if on:
                self.hub.on_duty[conn] = now_ms
            elif conn in self.hub.on_duty:
                last = self.hub.on_duty.pop(conn)
                state = await self._state(member)
                self.hub.away[conn] = max(last, off_since(member, state, now_ms))

    async def joined(self, conn: Connection, member: Member, resume: str | None,
                     replayed: list[tuple[str, list[Delivery]]]) -> None:
        """Start following a connection once its welcome (and replay or snapshot) is sent. A
        rep resuming a session who came back while disconnected is sent the open leads they
        missed while away and not in the replay."""
        now_ms = await self.arbiter.now_ms()
        state = await self._state(member)
        # the resume point in the scripts' clock (stream ids are Redis time); no resume: a
        # snapshot was sent if the rep was on duty, else every open lead is still owed
        lag = await self.arbiter.redis_time_ms() - now_ms
        seen_ms = seq_key(resume)[0] - lag if resume else 0
        self.hub.duty_known.add(conn)
        # the hub's view too: a pause the tail handed over while this ran is not in `state`
        if (state.get("paused") == "1" or conn.rep in self.hub.paused
                or not member.on_shift(now_ms)):
            # the replay skipped offers for a rep off duty: owed from the resume point too
            self.hub.away[conn] = min(off_since(member, state, now_ms), seen_ms)
            return
        self.hub.on_duty[conn] = now_ms
        since = back_since(member, state, now_ms, seen_ms) if resume else None
        if since is not None:
            self.spawn(conn, member, since, back_at(member, state, now_ms),
                       replayed_ids(self.hub, conn, member, replayed))

    def spawn(self, conn: Connection, member: Member, since_ms: int, until_ms: int,
              skip: Collection[str]) -> None:
        """Offer in the background (a shift start may bring many reps back at once: at most
        PARALLEL pool reads run together)."""
        task = asyncio.get_running_loop().create_task(
            self.offer(conn, member, since_ms, until_ms, skip))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def offer(self, conn: Connection, member: Member, since_ms: int, until_ms: int,
                    skip: Collection[str]) -> int:
        """Send the open leads `member` may claim that were offered to the team from
        `since_ms` until `until_ms` (when they came back; later ones came live)."""
        limit = self.arbiter.team(member.team).returns.offer_max
        if limit == 0 or conn.closed.is_set():
            return 0
        try:
            async with self.parallel:
                leads = await self.arbiter.offers_on_return(member, since_ms, until_ms, skip,
                                                            limit)
        except StoreError as exc:
            log.warning("open leads for returning %s failed: %s", member.id, exc)
            return 0
        for lead in leads:
            frame = protocol.lead(lead.payload())
            frame["snapshot"] = True
            if conn.send_frame(frame):
                self.hub.metrics.reps.offered(conn.rep)
        return len(leads)

    async def _state(self, member: Member) -> dict[str, Any]:
        fields: dict[str, Any] = (await self.arbiter.rep_state(member.id)).get("state", {})
        return fields
