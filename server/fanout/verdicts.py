"""Who may see a broadcast frame, remembered per kind of frame and rep across deliveries."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping

from server.fanout.deliveries import Delivery
from server.floor.roster import Member

HIDDEN, SHOWN, BY_SHIFT = 0, 1, 2  # BY_SHIFT: shown while the rep is on shift
KINDS_KEPT = 64  # kinds of frame (audience, region, skills) whose verdicts are remembered
Verdict = int
Table = dict[str, tuple[Member, Verdict]]  # rep -> (the Member judged, verdict)
# What a connection keeps of its last verdict: (table, roster mapping, Member, verdict); used
# while the delivery's table and roster are the very same objects (a reload makes a new roster)
View = tuple[Table | None, Mapping[str, Member] | None, Member, Verdict]
NOBODY = Member("", "", "", False, frozenset(), frozenset(), {})  # a rep not on the roster
UNSEEN: View = (None, None, NOBODY, HIDDEN)


def kind_of(item: Delivery) -> Hashable:
    """What the rules look at in a frame: its audience and, for an offer, region and skills
    (labels, validated when the lead was published)."""
    if not item.offer:
        return item.audience, False
    frame = item.frame
    return item.audience, True, frame.get("region", ""), tuple(frame.get("skills") or ())


def judge(member: Member, item: Delivery) -> Verdict:
    """The part of Hub.visible that only depends on the rep's Member and the frame: audience,
    eligibility, and whether the shift matters. Pauses and the clock are checked live."""
    if not item.audience.admits(member):
        return HIDDEN
    if not item.offer:
        return SHOWN
    frame = item.frame
    if not member.may_receive(frame.get("region", ""), frame.get("skills") or ()):
        return HIDDEN
    # Member.on_shift is True at every instant when the rep has no shifts
    return BY_SHIFT if member.limits.get("shifts") else SHOWN


class Verdicts:
    """Verdicts of `judge` per kind of frame and rep, for the reps' current Member objects.

    A roster reload replaces the Member objects (they are frozen), so a verdict is used only
    while the rep's Member is the very object it was judged for; a rep's first frame of a kind
    after a reload is judged again. Each lead of the same kind then costs each socket one dict
    lookup instead of the audience, eligibility and shift calls.
    """

    def __init__(self) -> None:
        self.tables: OrderedDict[Hashable, Table] = OrderedDict()

    def table(self, item: Delivery) -> Table:
        """The verdicts for this frame's kind, the most recent kinds kept."""
        kind = kind_of(item)
        table = self.tables.pop(kind, None)
        if table is None:
            table = {}
            while len(self.tables) >= KINDS_KEPT:
                self.tables.popitem(last=False)
        self.tables[kind] = table
        return table
