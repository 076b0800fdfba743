"""One rep socket's send side: a bounded queue drained by one writer, and broadcast frames
encoded once for every socket they go to."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from server import protocol
from server.fanout.deliveries import Delivery
from server.fanout.verdicts import UNSEEN, View
from server.metrics import Metrics
from server.protocol import CloseCode, Codec, Frame

Wire = str | bytes
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


class Connection:
    """One authenticated rep socket: a bounded queue drained by one writer task."""

    __slots__ = ("claiming", "closed", "codec", "corked", "held_back", "last_seq", "metrics",
                 "queue", "rep", "replaying", "sink", "team", "view",
                 "waiting")  # read per socket per frame

    def __init__(self, rep: str, team: str, codec: Codec, sink: Sink, max_queue: int,
                 metrics: Metrics) -> None:
        self.rep, self.team, self.codec, self.sink = rep, team, codec, sink
        self.queue: asyncio.Queue[Wire] = asyncio.Queue(maxsize=max_queue)
        self.metrics = metrics
        self.last_seq: tuple[int, int] = (0, 0)
        self.replaying = False
        self.held_back: list[tuple[str, list[Delivery]]] = []
        self.closed = asyncio.Event()
        self.view: View = UNSEEN  # the hub's last verdict for this socket (fanout/verdicts.py)
        self.waiting = 0  # frames put in the queue and not yet written: none, a direct write
        self.corked: list[tuple[Wire, bytes]] | None = None  # frames held for one write
        self.claiming: asyncio.Future[Any] | None = None  # the rep's claim awaiting Redis

    def push(self, data: Wire, prepared: bytes | None = None) -> bool:
        """Send a frame without waiting: straight to the socket when nothing is queued ahead
        of it and its buffer has room (held back for one write while corked), else into the
        bounded queue; a full queue disconnects the slow reader."""
        if self.closed.is_set():
            return False
        if prepared is not None and not self.waiting:
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
        self.waiting += 1
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
        self.waiting += 1  # from now on: no frame may overtake this one with a direct write
        queued = False
        try:
            await asyncio.wait_for(self.queue.put(data), SLOW_READER_S)
            queued = True
        except TimeoutError:
            self.disconnect(CloseCode.SLOW_CONSUMER, "send queue full while resuming")
        finally:
            if not queued:
                self.waiting -= 1
        return queued and not self.closed.is_set()

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
            try:
                await self.sink.send(data)
            except (ConnectionError, RuntimeError):
                self.closed.set()
            finally:
                self.waiting -= 1
                self.queue.task_done()

    async def flushed(self) -> None:
        """Wait until every queued frame was handed to the socket."""
        await self.queue.join()


class Broadcast:
    """A frame encoded at most once per codec, shared by every socket it goes to."""

    __slots__ = ("_wire", "frame", "lead", "pairs")

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.lead = frame["type"] == "lead"  # an offer, counted per rep
        self._wire: dict[Codec, Wire] = {}
        self.pairs: dict[Codec, tuple[Wire, bytes]] = {}  # (wire, its prepared bytes)

    def wire(self, codec: Codec) -> Wire:
        if codec not in self._wire:
            self._wire[codec] = protocol.encode(self.frame, codec)
        return self._wire[codec]

    def pair(self, conn: Connection) -> tuple[Wire, bytes]:
        """The frame for this connection's codec and the bytes its sink writes, made once per
        codec (`pairs` holds them; the hub reads it per socket and calls this on a miss)."""
        data = self.wire(conn.codec)
        pair = self.pairs[conn.codec] = (data, conn.sink.prepare(data))
        return pair
