"""The local fan-out hub: connections per team, offers filtered per rep, batches coalesced."""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from server import protocol
from server.fanout.connection import Broadcast, Connection
from server.fanout.deliveries import Delivery, settlement
from server.fanout.verdicts import BY_SHIFT, HIDDEN, NOBODY, Table, Verdicts, View, judge
from server.floor.roster import Member
from server.metrics import Metrics
from server.protocol import Frame

SETTLED_MEMORY = 10_000  # leads whose window results were delivered locally
RESHUFFLE_EVERY = 8  # deliveries between full reshuffles of a team's order (amortised cost)


def seq_key(seq: str) -> tuple[int, int]:
    """A stream entry id as a sortable pair."""
    ms, _, n = seq.partition("-")
    return int(ms), int(n or 0)


class FanoutOrder:
    """The order a team's sockets are written in: a random rotation of a random permutation.

    The socket written first gets the frame first, and in fcfs mode a head start of up to the
    whole fan-out time; so no rep may hold a fixed place. Every delivery starts at a uniformly
    random offset (each rep takes each position equally often) and the permutation itself is
    redrawn every RESHUFFLE_EVERY deliveries (no fixed neighbour to beat): a full shuffle per
    delivery would cost ~0.3 µs per socket, the rotation one slice copy.
    """

    __slots__ = ("conns", "order", "uses")

    def __init__(self) -> None:
        self.conns: set[Connection] = set()
        self.order: list[Connection] = []
        self.uses = 0

    def changed(self) -> None:
        self.uses = RESHUFFLE_EVERY

    def next(self) -> list[Connection]:
        """A fresh list of the sockets in this delivery's order."""
        if self.uses >= RESHUFFLE_EVERY:
            self.order = list(self.conns)
            random.shuffle(self.order)
            self.uses = 0
        self.uses += 1
        order = self.order
        start = random.randrange(len(order)) if order else 0
        return order[start:] + order[:start]


class Hub:
    """Connections grouped by team; delivers stream entries to the reps allowed to see them."""

    def __init__(self, metrics: Metrics, member: Callable[[str], Member | None],
                 members: Callable[[], Mapping[str, Member]] | None = None) -> None:
        self.metrics = metrics
        self.member = member
        self.members = members  # the roster's reps by id, if known: one lookup per socket
        self.verdicts = Verdicts()
        self.teams: dict[str, set[Connection]] = {}
        self.orders: dict[str, FanoutOrder] = {}
        self.paused: set[str] = set()
        self.settlements: OrderedDict[str, None] = OrderedDict()
        self.limits: dict[Connection, dict[str, Any]] = {}  # the limits each rep was told
        # coming back (fanout/returns.py): since when each rep was on duty, or away
        self.duty_known: set[Connection] = set()
        self.on_duty: dict[Connection, int] = {}
        self.away: dict[Connection, int] = {}
        self.woken = asyncio.Event()  # a rep resumed: check now

    def add(self, conn: Connection) -> None:
        order = self.orders.get(conn.team)
        if order is None:
            order = self.orders[conn.team] = FanoutOrder()
            self.teams[conn.team] = order.conns
        order.conns.add(conn)
        order.changed()
        self.metrics.connected.inc()

    def remove(self, conn: Connection) -> None:
        order = self.orders.get(conn.team)
        if order is not None and conn in order.conns:
            order.conns.discard(conn)
            order.changed()
            self.metrics.connected.dec()
        self.limits.pop(conn, None)
        self.duty_known.discard(conn)
        self.on_duty.pop(conn, None)
        self.away.pop(conn, None)

    def in_order(self, team: str) -> list[Connection]:
        """The team's sockets in a fresh fair order (see FanoutOrder)."""
        order = self.orders.get(team)
        return order.next() if order is not None else []

    @contextmanager
    def coalesced(self, team: str, on: bool = True) -> Iterator[None]:
        """Deliveries inside the block reach each socket of the team with one write.

        Used for a batch of stream entries read at once (a server catching up): the frames
        of several entries cost one syscall per socket instead of one per frame.
        """
        conns = self.in_order(team) if on else []
        for conn in conns:
            conn.corked = []
        try:
            yield
        finally:
            for conn in conns:
                conn.uncork()

    def connections(self) -> Iterator[Connection]:
        for conns in self.teams.values():
            yield from list(conns)

    def deliver(self, team: str, seq: str, items: list[Delivery]) -> int:
        """Send one stream entry's frames to the team's reps in their audience; returns count.

        The same rules as `visible`, at the least cost per socket (this loop runs for every
        socket of the team on every lead): the verdict kept on the connection for this kind of
        frame and roster (else `_view`), pause and shift checked live, then the write."""
        plans = [(item, Broadcast(item.frame), self.verdicts.table(item)) for item in items]
        key, now_ms = seq_key(seq), int(time.time() * 1000)
        roster = self.members() if self.members is not None else None
        paused, offered, sent = self.paused, [], 0
        for conn in self.in_order(team):
            if conn.replaying:
                conn.hold_back(seq, items)
                continue
            if key <= conn.last_seq:
                continue
            conn.last_seq = key
            for item, wire, table in plans:
                view = conn.view
                if view[0] is not table or view[1] is not roster or roster is None:
                    view = conn.view = self._view(conn.rep, item, table, roster)
                if view[3] == HIDDEN or (item.offer and conn.rep in paused) or (
                        view[3] == BY_SHIFT and not view[2].on_shift(now_ms)):
                    continue
                data, prepared = wire.pairs.get(conn.codec) or wire.pair(conn)
                if conn.push(data, prepared):  # two arguments: a call CPython 3.11 inlines
                    sent += 1
                    if wire.lead:
                        offered.append(conn.rep)
                    else:
                        self._counted(conn, item.frame, True)
        self.metrics.reps.offered_each(offered)
        return sent

    def _view(self, rep: str, item: Delivery, table: Table,
              roster: Mapping[str, Member] | None) -> View:
        """The rep's Member and verdict for this kind of frame (kept in `table` per Member)."""
        member = roster.get(rep) if roster is not None else self.member(rep)
        if member is None:
            return table, roster, NOBODY, HIDDEN
        hit = table.get(rep)
        if hit is None or hit[0] is not member:
            hit = table[rep] = (member, judge(member, item))
        return table, roster, member, hit[1]

    def visible(self, conn: Connection, member: Member | None, item: Delivery,
                now_ms: int) -> bool:
        """Whether this rep (`member`, looked up once per connection) may see the frame: in its
        audience and, for an offer, eligible, not paused and on shift (the same rules the
        claim script enforces)."""
        if member is None or not item.audience.admits(member):
            return False
        if not item.offer:
            return True
        frame = item.frame
        return (conn.rep not in self.paused
                and member.may_receive(frame.get("region", ""), frame.get("skills") or ())
                and member.on_shift(now_ms))

    def settled_here(self, team: str, lead_id: str,
                     results: Mapping[str, Mapping[str, Any]]) -> None:
        """Window results this process settled: sent now, unless the type=settled entry of the
        events stream (which carries them to every process) got here first."""
        if not self.first_settlement(lead_id):
            return
        items = settlement(lead_id, results)
        now_ms = int(time.time() * 1000)
        for conn in self.in_order(team):
            member = self.member(conn.rep)
            for item in items:
                if self.visible(conn, member, item, now_ms):
                    self._counted(conn, item.frame, conn.send_frame(item.frame))

    def first_settlement(self, lead_id: str) -> bool:
        """True for the first of the two ways a lead's window results reach this process
        (settled here, or read from the events stream); False for the second."""
        if self.settlements.pop(lead_id, 0) is None:
            return False
        self.settlements[lead_id] = None
        while len(self.settlements) > SETTLED_MEMORY:
            self.settlements.popitem(last=False)
        return True

    def set_paused(self, rep: str, is_paused: bool) -> None:
        """Follow a pause or resume (offers skip paused reps)."""
        if is_paused:
            self.paused.add(rep)
            for conn in [c for c in self.on_duty if c.rep == rep]:  # away from the last check
                self.away[conn] = self.on_duty.pop(conn)
        elif rep in self.paused:
            self.paused.discard(rep)
            self.woken.set()

    async def replay(self, conn: Connection, entries: list[tuple[str, list[Delivery]]]) -> int:
        """Send missed entries, then what arrived live meanwhile: in order, no duplicates.

        Waits for queue space (a reader too slow to catch up is disconnected) and goes live
        only once nothing is held back, with no await in between.
        """
        sent = 0
        for seq, items in entries:
            sent += await self._replay_one(conn, seq, items)
        while conn.held_back and not conn.closed.is_set():
            seq, items = conn.held_back.pop(0)
            sent += await self._replay_one(conn, seq, items)
        conn.replaying = False
        return sent

    async def _replay_one(self, conn: Connection, seq: str, items: list[Delivery]) -> int:
        key = seq_key(seq)
        if key <= conn.last_seq:
            return 0
        conn.last_seq = key
        now_ms = int(time.time() * 1000)
        member, sent = self.member(conn.rep), 0
        for item in items:
            if self.visible(conn, member, item, now_ms):
                queued = await conn.put(protocol.encode(item.frame, conn.codec))
                sent += self._counted(conn, item.frame, queued)
        return sent

    def _counted(self, conn: Connection, frame: Frame, queued: bool) -> int:
        """Count a queued offer, or a window decision, for its rep."""
        if queued and frame["type"] == "lead":
            self.metrics.reps.offered(conn.rep)
        elif queued and frame["type"] == "claim_result":
            self.metrics.reps.decided(conn.rep, frame["lead_id"], frame["result"],
                                      frame.get("reason"))
        return int(queued)

    def close_all(self, code: int, message: str) -> None:
        """Close every socket (shutdown)."""
        for conn in list(self.connections()):
            conn.disconnect(code, message)
