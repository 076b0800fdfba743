"""The fan-out hub: bounded per-connection queues, slow readers cut off, frames encoded once."""

from __future__ import annotations

import asyncio

from server import protocol
from server.fanout.connection import Broadcast, Connection, Wire
from server.fanout.deliveries import EVERYONE, Delivery
from server.fanout.hub import Hub
from server.floor.roster import Member
from server.metrics import Metrics
from server.protocol import CloseCode, Codec

ALICE = Member("alice", "north", "", True, frozenset({"*"}), frozenset(), {"shifts": []})


class StalledSink:
    """A socket whose reader stopped reading: sends never complete."""

    def __init__(self) -> None:
        self.closed_with: int | None = None
        self.sent: list[Wire] = []

    async def send(self, data: Wire) -> None:
        self.sent.append(data)
        await asyncio.Event().wait()

    async def close(self, code: int, message: str) -> None:
        self.closed_with = code

    def prepare(self, data: Wire) -> bytes:
        return data.encode() if isinstance(data, str) else data

    def write_now(self, prepared: bytes) -> bool:
        return False  # its socket buffer is full: everything waits in the queue


class ReadingSink(StalledSink):
    """A socket that keeps up: frames go straight to it."""

    async def send(self, data: Wire) -> None:
        self.sent.append(data)

    def write_now(self, prepared: bytes) -> bool:
        self.sent.append(prepared)
        return True


def lead(n: int) -> tuple[str, list[Delivery]]:
    seq = f"{1000 + n}-0"
    frame = protocol.lead({"lead_id": f"L{n}", "team": "north", "seq": seq})
    return seq, [Delivery(frame, EVERYONE, offer=True)]


def hub_with(*sinks: tuple[str, StalledSink]) -> tuple[Metrics, Hub, list[Connection]]:
    """A hub on team north with one JSON connection (queue of 8) per (rep, sink)."""
    metrics = Metrics()
    hub = Hub(metrics, lambda rep: ALICE)
    conns = [Connection(rep, "north", Codec.JSON, sink, 8, metrics) for rep, sink in sinks]
    for conn in conns:
        hub.add(conn)
    return metrics, hub, conns


async def test_slow_reader_is_cut_off_and_memory_stays_bounded() -> None:
    slow_sink, fast_sink = StalledSink(), ReadingSink()
    metrics, hub, (slow, fast) = hub_with(("alice", slow_sink), ("bob", fast_sink))
    writers = [asyncio.create_task(c.run_writer()) for c in (slow, fast)]
    for n in range(100):
        hub.deliver("north", *lead(n))
        await asyncio.sleep(0)
        assert slow.queue.qsize() <= 8
    await asyncio.sleep(0.01)
    assert slow_sink.closed_with == CloseCode.SLOW_CONSUMER
    assert metrics.disconnects.labels(str(CloseCode.SLOW_CONSUMER))._value.get() == 1
    assert len(fast_sink.sent) == 100 and fast_sink.closed_with is None
    for task in writers:
        task.cancel()


async def test_broadcast_is_encoded_once_per_codec() -> None:
    _seq, items = lead(1)
    shared = Broadcast(items[0].frame)
    assert shared.wire(Codec.JSON) is shared.wire(Codec.JSON)
    assert isinstance(shared.wire(Codec.MSGPACK), bytes)


async def test_replay_then_live_without_duplicates() -> None:
    metrics = Metrics()
    hub = Hub(metrics, lambda rep: ALICE)
    sink = ReadingSink()
    conn = Connection("alice", "north", Codec.JSON, sink, 64, metrics)
    conn.replaying = True
    hub.add(conn)
    hub.deliver("north", *lead(3))  # arrives live while the replay is being read
    sent = await hub.replay(conn, [lead(1), lead(2), lead(3)])
    hub.deliver("north", *lead(4))
    assert sent == 3 and not conn.replaying
    ids = [conn.queue.get_nowait() for _ in range(conn.queue.qsize())]
    assert all([f'"L{n}"' in str(wire) for n, wire in zip((1, 2, 3, 4), ids, strict=True)])
    assert len(ids) == 4


async def test_a_batch_of_entries_reaches_each_socket_in_one_write_in_order() -> None:
    reading, stalled = ReadingSink(), StalledSink()
    _, hub, (fast, full) = hub_with(("alice", reading), ("alice", stalled))
    with hub.coalesced("north"):
        for n in range(3):
            assert hub.deliver("north", *lead(n)) == 2
        assert reading.sent == []  # held until the batch ends
    frames = [lead(n)[1][0].frame for n in range(3)]
    assert reading.sent == [b"".join(protocol.encode(f, Codec.JSON).encode() for f in frames)]
    # a socket whose buffer is full gets the same frames through its queue, in order
    assert [full.queue.get_nowait() for _ in range(3)] == [
        protocol.encode(f, Codec.JSON) for f in frames]
    with hub.coalesced("north", on=False):
        hub.deliver("north", *lead(3))
    assert len(reading.sent) == 2 and fast.corked is None  # not corked: written at once
