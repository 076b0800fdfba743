"""The local fan-out hub: connections per team, bounded send queues, offers filtered per rep."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from server import protocol
from server.entries import Delivery, settlement
from server.metrics import Metrics
from server.protocol import CloseCode, Codec, Frame
from server.roster import Member

log = logging.getLogger(__name__)
Wire = str | bytes
SETTLED_MEMORY = 10_000  # leads whose window results were delivered locally
SLOW_READER_S = 5.0  # how long a resuming reader may leave its queue full


class Sink(Protocol):
    """Where a connection's frames go: the transport's socket."""

    async def send(self, data: Wire) -> None: ...

    async def close(self, code: int, message: str) -> None: ...

    def prepare(self, data: Wire) -> bytes:
        """The bytes `write_now` puts on the wire for this frame (the same for every socket)."""
        ...

    def write_now(self, prepared: bytes) -> bool:
        """Write without waiting if the socket's buffer has room; False to use the queue."""
        ...


def seq_key(seq: str) -> tuple[int, int]:
    """A stream entry id as a sortable pair."""
    ms, _, n = seq.partition("-")
    return int(ms), int(n or 0)


class Connection:
    """One authenticated rep socket: a bounded queue drained by one writer task."""

    def __init__(self, rep: str, team: str, codec: Codec, sink: Sink, max_queue: int,
                 metrics: Metrics) -> None:
        self.rep, self.team, self.codec, self.sink = rep, team, codec, sink
        self.queue: asyncio.Queue[Wire] = asyncio.Queue(maxsize=max_queue)
        self.metrics = metrics
        self.last_seq: tuple[int, int] = (0, 0)
        self.replaying = False
        self.held_back: list[tuple[str, list[Delivery]]] = []
        self.closed = asyncio.Event()
        self.writing = False
        self.corked: list[tuple[Wire, bytes]] | None = None  # frames held for one write

    def push(self, data: Wire, prepared: bytes | None = None) -> bool:
        """Send a frame without waiting: straight to the socket when nothing is queued ahead
        of it and its buffer has room (held back for one write while corked), else into the
        bounded queue; a full queue disconnects the slow reader."""
        if self.closed.is_set():
            return False
        if prepared is not None and not self.writing and self.queue.empty():
            if self.corked is not None:
                self.corked.append((data, prepared))
                return True
            if self.sink.write_now(prepared):
                return True
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.disconnect(CloseCode.SLOW_CONSUMER, "send queue overflow: reading too slowly")
            return False
        return True

    def uncork(self) -> None:
        """Write the frames held while corked with one write (one syscall for the socket,
        one read for the client); if the socket's buffer is full, queue them instead."""
        corked, self.corked = self.corked, None
        if not corked:
            return
        if self.sink.write_now(b"".join(prepared for _, prepared in corked)):
            return
        for data, _ in corked:
            self.push(data)

    async def put(self, data: Wire) -> bool:
        """Queue a frame, waiting a bounded time for space (used while replaying)."""
        try:
            await asyncio.wait_for(self.queue.put(data), SLOW_READER_S)
        except TimeoutError:
            self.disconnect(CloseCode.SLOW_CONSUMER, "send queue full while resuming")
            return False
        return not self.closed.is_set()

    def hold_back(self, seq: str, items: list[Delivery]) -> None:
        """Keep a live entry while the missed ones are replayed (bounded like the queue)."""
        if len(self.held_back) >= self.queue.maxsize:
            self.disconnect(CloseCode.SLOW_CONSUMER, "too far behind while resuming")
            return
        self.held_back.append((seq, items))

    def send_frame(self, frame: Frame) -> bool:
        """Encode one frame for this connection and send it (directly when nothing waits)."""
        data = protocol.encode(frame, self.codec)
        return self.push(data, self.sink.prepare(data))

    def disconnect(self, code: int, message: str) -> None:
        """Close the socket once (from any task), counting why."""
        if self.closed.is_set():
            return
        self.closed.set()
        self.metrics.disconnects.labels(str(code)).inc()
        asyncio.get_running_loop().create_task(self.sink.close(code, message))

    async def run_writer(self) -> None:
        """Drain the queue into the socket until the connection closes."""
        while not self.closed.is_set():
            data = await self.queue.get()
            self.writing = True
            try:
                await self.sink.send(data)
            except (ConnectionError, RuntimeError):
                self.closed.set()
            finally:
                self.writing = False
                self.queue.task_done()

    async def flushed(self) -> None:
        """Wait until every queued frame was handed to the socket."""
        await self.queue.join()


class Broadcast:
    """A frame encoded at most once per codec, shared by every socket it goes to."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self._wire: dict[Codec, Wire] = {}
        self._prepared: dict[Codec, bytes] = {}

    def wire(self, codec: Codec) -> Wire:
        if codec not in self._wire:
            self._wire[codec] = protocol.encode(self.frame, codec)
        return self._wire[codec]

    def push_to(self, conn: Connection) -> bool:
        """Queue or write this frame to a connection, preparing its bytes once per codec."""
        codec = conn.codec
        if codec not in self._prepared:
            self._prepared[codec] = conn.sink.prepare(self.wire(codec))
        return conn.push(self.wire(codec), self._prepared[codec])


class Hub:
    """Connections grouped by team; delivers stream entries to the reps allowed to see them."""

    def __init__(self, metrics: Metrics, member: Callable[[str], Member | None]) -> None:
        self.metrics = metrics
        self.member = member
        self.teams: dict[str, set[Connection]] = {}
        self.paused: set[str] = set()
        self.settlements: OrderedDict[str, None] = OrderedDict()

    def add(self, conn: Connection) -> None:
        self.teams.setdefault(conn.team, set()).add(conn)
        self.metrics.connected.inc()

    def remove(self, conn: Connection) -> None:
        conns = self.teams.get(conn.team)
        if conns is not None and conn in conns:
            conns.discard(conn)
            self.metrics.connected.dec()

    @contextmanager
    def coalesced(self, team: str, on: bool = True) -> Iterator[None]:
        """Deliveries inside the block reach each socket of the team with one write.

        Used for a batch of stream entries read at once (a server catching up): the frames
        of several entries cost one syscall per socket instead of one per frame.
        """
        conns = list(self.teams.get(team, ())) if on else []
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
        """Send one stream entry's frames to the team's reps in their audience; returns count."""
        pairs = [(item, Broadcast(item.frame)) for item in items]
        key = seq_key(seq)
        now_ms = int(time.time() * 1000)
        sent = 0
        for conn in list(self.teams.get(team, ())):
            if conn.replaying:
                conn.hold_back(seq, items)
            elif key > conn.last_seq:
                conn.last_seq = key
                member = self.member(conn.rep)
                for item, wire in pairs:
                    if self.sees(conn, member, item, now_ms):
                        sent += self._counted(conn, item.frame, wire.push_to(conn))
        return sent

    def visible(self, conn: Connection, item: Delivery, now_ms: int) -> bool:
        """Whether this rep may see the frame: in its audience and, for an offer, eligible,
        not paused and on shift (the same rules the claim script enforces)."""
        return self.sees(conn, self.member(conn.rep), item, now_ms)

    def sees(self, conn: Connection, member: Member | None, item: Delivery,
             now_ms: int) -> bool:
        """`visible`, with the rep's member record already looked up."""
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
        for conn in list(self.teams.get(team, ())):
            for item in items:
                if self.visible(conn, item, now_ms):
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
        else:
            self.paused.discard(rep)

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
        sent = 0
        for item in items:
            if self.visible(conn, item, now_ms):
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
