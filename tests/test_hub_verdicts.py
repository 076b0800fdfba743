"""The hub's remembered verdicts (fanout/verdicts.py) never show a frame `Hub.visible` would
hide, or hide one it would show: after a roster reload, a pause, or off shift."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from server import protocol
from server.fanout.connection import Connection, Wire
from server.fanout.deliveries import Audience, Delivery, deliveries
from server.fanout.hub import Hub
from server.floor.roster import Member
from server.metrics import Metrics
from server.protocol import Codec


class ReadingSink:
    """A socket that keeps up: every frame is written at once."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, data: Wire) -> None:
        raise AssertionError("a reading socket never queues")

    async def close(self, code: int, message: str) -> None:
        pass

    def prepare(self, data: Wire) -> bytes:
        return data.encode() if isinstance(data, str) else data

    def write_now(self, prepared: bytes) -> bool:
        self.sent.append(prepared)
        return True


def rep(rep_id: str, regions: set[str], tier: str = "", shifts: list[str] | None = None,
        active: bool = True) -> Member:
    return Member(rep_id, "north", tier, active, frozenset(regions), frozenset({"tax"}),
                  {"shifts": shifts or []})


def off_shift_now() -> list[str]:
    """A one-minute daily shift twelve hours from now (UTC): off shift for the whole test."""
    at = datetime.now(UTC) + timedelta(hours=12)
    return [f"daily {at:%H:%M}-{at + timedelta(minutes=1):%H:%M}"]


class Floor:
    """A hub whose roster can be swapped, as a reload does, with one socket per rep."""

    def __init__(self, members: dict[str, Member]) -> None:
        self.roster = members
        self.hub = Hub(Metrics(), lambda r: self.roster.get(r), lambda: self.roster)
        self.sinks = {r: ReadingSink() for r in members}
        for r, sink in self.sinks.items():
            self.hub.add(Connection(r, "north", Codec.JSON, sink, 8, self.hub.metrics))
        self.seq = 1000

    def offer(self, region: str, skills: list[str] | None = None,
              audience: dict[str, object] | None = None) -> set[str]:
        """Publish one offer; the reps whose sockets received it."""
        self.seq += 1
        seq = f"{self.seq}-0"
        payload = {"lead_id": f"L{self.seq}", "team": "north", "region": region,
                   "skills": skills or []}
        fields = {"type": "lead", "payload": json.dumps(payload), "published_ms": "1",
                  "audience": json.dumps(audience) if audience else ""}
        before = {r: len(s.sent) for r, s in self.sinks.items()}
        self.hub.deliver("north", seq, deliveries(fields, seq))
        return {r for r, s in self.sinks.items() if len(s.sent) > before[r]}

    def visible(self, item: Delivery) -> set[str]:
        now_ms = int(time.time() * 1000)
        conns = {c.rep: c for c in self.hub.connections()}
        return {r for r, c in conns.items()
                if self.hub.visible(c, self.roster.get(r), item, now_ms)}


async def test_a_reload_is_followed_by_the_next_offer_of_the_same_kind() -> None:
    floor = Floor({"ann": rep("ann", {"east"}), "bob": rep("bob", {"west"})})
    assert floor.offer("east") == {"ann"}
    assert floor.offer("east") == {"ann"}  # the remembered verdicts
    floor.roster = {"ann": rep("ann", {"west"}), "bob": rep("bob", {"east", "west"})}
    assert floor.offer("east") == {"bob"}
    floor.roster = {"ann": rep("ann", {"east"})}  # bob left the roster
    assert floor.offer("east") == {"ann"}


async def test_pauses_and_shifts_are_checked_at_every_offer() -> None:
    floor = Floor({"ann": rep("ann", {"*"}), "bob": rep("bob", {"*"}, shifts=off_shift_now()),
                   "cy": rep("cy", {"*"}, shifts=["daily 00:00-00:00"])})
    assert floor.offer("east") == {"ann", "cy"}
    floor.hub.set_paused("ann", True)
    assert floor.offer("east") == {"cy"}
    floor.hub.set_paused("ann", False)
    assert floor.offer("east") == {"ann", "cy"}


async def test_every_kind_of_offer_reaches_exactly_the_reps_visible_admits() -> None:
    members = {"ann": rep("ann", {"east"}, tier="gold"), "bob": rep("bob", {"*"}),
               "cy": rep("cy", {"west"}, tier="gold", active=False),
               "dee": rep("dee", {"east"}, shifts=off_shift_now())}
    floor = Floor(members)
    kinds = [("east", None, None), ("west", ["tax"], None), ("", ["law"], None),
             ("east", None, {"tiers": ["gold"]}), ("east", None, {"except_reps": ["ann"]})]
    for _ in range(2):  # judged, then remembered
        for region, skills, audience in kinds:
            got = floor.offer(region, skills, audience)
            seq = f"{floor.seq}-0"
            payload = {"lead_id": "x", "team": "north", "seq": seq, "region": region,
                       "skills": skills or []}
            item = Delivery(protocol.lead(payload), Audience.parse(
                json.dumps(audience) if audience else None), offer=True)
            assert got == floor.visible(item), (region, skills, audience)


async def test_offers_are_counted_per_rep_and_connection_exactly() -> None:
    members = {"ann": rep("ann", {"*"}), "bob": rep("bob", {"east"}), "cy": rep("cy", {"*"})}
    floor = Floor(members)
    floor.hub.add(Connection("ann", "north", Codec.JSON, ReadingSink(), 8, floor.hub.metrics))
    floor.hub.metrics.reps.set_roster({r: "north" for r in members})
    floor.hub.set_paused("cy", True)
    for region in ("east", "west", "east"):
        floor.offer(region)
    offers = floor.hub.metrics.rep_offers
    assert {r: offers.labels("north", r)._value.get() for r in members} == {
        "ann": 6, "bob": 2, "cy": 0}
