"""One simulated rep: a WebSocket that says hello, watches leads and claims some of them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed, WebSocketException

from loadtest.connection import Connection, Message
from loadtest.contention import Contention, lead_index
from loadtest.tally import Tally
from loadtest.window import Provisional
from server import protocol
from server.protocol import Codec

TAKEN_PREFIX = '{"type":"lead_taken"'  # skipped unparsed: the hottest frame and never needed
MAX_FRAME_BYTES = 1 << 20


@dataclass
class Crowd:
    """What every client of one worker shares: the plan, the tally and the run's clock."""

    url: str
    run_id: str
    codec: Codec
    compression: bool
    hello: bool
    contention: Contention
    tally: Tally
    connect_timeout_s: float
    record_from: float = float("inf")
    stopping: bool = False
    windows: dict[str, int] = field(default_factory=dict)
    _claimers: dict[int, frozenset[int]] = field(default_factory=dict)

    def claims(self, lead: int, rep: int) -> bool:
        """Whether this rep claims this lead (cached per lead: every rep of the worker asks)."""
        chosen = self._claimers.get(lead)
        if chosen is None:
            chosen = self._claimers[lead] = self.contention.claimers_of(lead)
        return rep in chosen

    def recording(self) -> bool:
        return time.perf_counter() >= self.record_from


class RepClient:
    """A rep's connection; outcomes and latencies go into the crowd's tally."""

    def __init__(self, index: int, rep: str, token: str, crowd: Crowd) -> None:
        self.index, self.rep, self.token, self.crowd = index, rep, token, crowd
        self.ws: Connection | None = None
        self.pending: dict[str, float] = {}
        self.waiting = Provisional(crowd.tally.window, crowd.tally.errors)
        self.sent = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> bool:
        """Connect and (for a real server) say hello and await welcome; False on failure."""
        crowd = self.crowd
        try:
            async with asyncio.timeout(crowd.connect_timeout_s):
                self.ws = await Connection.open(crowd.url, crowd.codec.subprotocol,
                                                compression=crowd.compression,
                                                max_size=MAX_FRAME_BYTES)
                if crowd.hello:
                    await self._greet(self.ws)
        except (OSError, TimeoutError, WebSocketException, ValueError) as exc:
            crowd.tally.errors[f"connect:{type(exc).__name__}"] += 1
            await self.close()
            return False
        crowd.tally.connected += 1
        return True

    async def _greet(self, ws: Connection) -> None:
        ws.send(protocol.encode({"type": "hello", "token": self.token}, self.crowd.codec))
        frame = protocol.decode_server(await ws.recv(), self.crowd.codec)
        if frame["type"] != "welcome":
            raise ValueError(f"expected welcome, got {frame.get('code') or frame['type']}")

    async def listen(self) -> None:
        """Handle frames as they arrive until the socket closes; an unplanned close counts as
        a disconnect."""
        ws = self.ws
        assert ws is not None
        while ws.inbox:  # what arrived before listening began
            self.handle(ws.inbox.popleft())
        ws.handler = self.handle
        await ws.wait_closed()
        if not self.crowd.stopping:
            self.crowd.tally.disconnects[str(ws.close_code or 1006)] += 1

    def handle(self, data: Message) -> None:
        """on_frame for the socket's handler: a frame the client cannot read is counted."""
        try:
            self.on_frame(data)
        except Exception as exc:  # one bad frame must not end the session
            self.crowd.tally.errors[f"frame:{type(exc).__name__}"] += 1

    def on_frame(self, data: Message) -> dict[str, Any] | None:
        """Route one server frame; returns it parsed (None when skipped)."""
        if isinstance(data, str) and data.startswith(TAKEN_PREFIX):
            self.taken()
            return None
        frame = protocol.decode_server(data, self.crowd.codec)
        kind = frame["type"]
        if kind == "lead_taken":
            self.taken()
        elif kind == "lead":
            self.on_lead(frame)
        elif kind == "claim_result":
            self.on_result(frame)
        elif kind == "error":
            self.crowd.tally.errors[f"server:{frame.get('code')}"] += 1
        return frame

    def taken(self) -> None:
        """Count a lead_taken frame received after the warm-up: fan-out a bench's CPU per
        claim includes (a lead first won in the measured window goes to every rep)."""
        if self.crowd.recording():
            self.crowd.tally.taken_measured += 1

    def on_lead(self, frame: dict[str, Any]) -> None:
        """Time the fan-out (Redis publish time to now) and claim if this rep is a claimer."""
        crowd = self.crowd
        index = lead_index(crowd.run_id, str(frame.get("lead_id")))
        if index is None:
            return
        latency_us = time.time_ns() / 1000 - int(frame["published_ms"]) * 1000
        crowd.tally.fanout.record_us(latency_us)
        seen = crowd.tally.lead(frame["lead_id"])
        seen.receipts += 1
        if latency_us < seen.first_us:
            seen.first_us, seen.first_rep = latency_us, self.rep
        seen.last_us = max(seen.last_us, latency_us)
        if "window_ms" in frame:
            crowd.windows[frame["lead_id"]] = int(frame["window_ms"])
        if crowd.claims(index, self.index):
            delay_s = crowd.contention.delay_ms(index, self.index) / 1000
            task = asyncio.get_running_loop().create_task(self.claim_after(delay_s, frame))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def claim_after(self, delay_s: float, lead: dict[str, Any]) -> None:
        """React like a human: wait, then claim."""
        await asyncio.sleep(delay_s)
        with contextlib.suppress(ConnectionClosed):
            self.send_claim(str(lead["lead_id"]))

    def send_claim(self, lead_id: str) -> str:
        """Send one claim with a fresh req_id and start its clock."""
        assert self.ws is not None
        self.sent += 1
        req_id = f"{self.crowd.run_id}.{self.sent}"
        frame = {"type": "claim", "req_id": req_id, "lead_id": lead_id}
        self.pending[req_id] = time.perf_counter()
        self.crowd.tally.claims_sent += 1
        self.crowd.tally.claimed[self.rep] += 1
        self.ws.send(protocol.encode(frame, self.crowd.codec))
        return req_id

    def on_result(self, frame: dict[str, Any]) -> None:
        """Record a claim_result: the first answer's round trip; the outcome once it is final."""
        req_id, result, now = str(frame.get("req_id")), str(frame["result"]), time.perf_counter()
        crowd, tally = self.crowd, self.crowd.tally
        started = self.pending.pop(req_id, None)
        if started is not None:
            if crowd.recording():
                tally.claim.record_us((now - started) * 1e6)
            if result == "pending":
                window_ms = crowd.windows.get(str(frame["lead_id"]))
                self.waiting.hold(req_id, started, now, frame, window_ms, crowd.recording())
                return
        elif result == "pending" or not self.waiting.settle(req_id, now, crowd.recording()):
            return
        tally.outcome(self.rep, str(frame["lead_id"]), result, frame.get("reason"))

    async def close(self) -> None:
        """Cancel pending claims and close the socket politely."""
        for task in list(self.tasks):
            task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
