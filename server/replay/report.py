"""The what-if report: the recorded day and the same inputs under new rules, side by side."""

from __future__ import annotations

import dataclasses
import html
import statistics
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from server.contracts.audit_fields import AuditAction, AuditField, AuditNote
from server.contracts.reasons import Outcome
from server.floor.fairness import fairness
from server.replay.record import Fields

A = AuditAction
TAKEN_BY = frozenset({A.ASSIGN, A.AUTO_ASSIGN, A.DISPATCH, A.REASSIGN})
LIMITS = (
    "Limits of a counterfactual: reps do not react to the new rules. Every recorded input "
    "(publishes, claim attempts, follow-ups, releases, closes, pauses, dispatches) happens at "
    "its recorded time; an attempt the new rules reject is not retried unless "
    "--retry-rejected models a retry after retry_after_ms (at most 3), and nobody attempts "
    "a lead they did not attempt in the record. A recorded follow-up, close or release of a "
    "lead is made by whoever holds that lead under the new rules at that time (nothing if "
    "nobody does)."
)


@dataclass(slots=True)
class RepLine:
    """One rep's figures in one run."""

    wins: int = 0
    assigned: int = 0
    attempts: int = 0
    rejections: dict[str, int] = field(default_factory=dict)
    recycles: int = 0  # each one a missed deadline: the penalty cooldown and a lockout


@dataclass(slots=True)
class Side:
    """One run's figures: per rep and for the team."""

    reps: dict[str, RepLine]
    team: dict[str, Any]


def side(entries: list[tuple[str, Fields]], eligible: Collection[str]) -> Side:
    """Every figure of one run from its audit entries."""
    reps: dict[str, RepLine] = {rep: RepLine() for rep in eligible}
    published: dict[str, int] = {}
    first_taken: dict[str, int] = {}
    rejections: Counter[str] = Counter()
    offers = fallbacks = 0
    for _, f in entries:
        action, rep, lead = f.get(AuditField.ACTION), f.get(AuditField.REP, ""), \
            f.get(AuditField.LEAD, "")
        ts, result = int(f.get(AuditField.TS, "0")), f.get(AuditField.RESULT, "")
        line = reps.setdefault(rep, RepLine()) if rep else RepLine()
        if action == A.PUBLISH:
            published.setdefault(lead, ts)
            offers += 1
        elif action == A.OFFER:
            offers += 1
        elif action == A.CLAIM:
            line.attempts += f.get(AuditField.NOTE) != AuditNote.SETTLED
            if result == Outcome.WON and f.get(AuditField.NOTE) != AuditNote.ALREADY_HOLDER:
                line.wins += 1
                first_taken.setdefault(lead, ts)
            elif result == Outcome.REJECTED:
                reason = f.get(AuditField.REASON, "")
                line.rejections[reason] = line.rejections.get(reason, 0) + 1
                rejections[reason] += 1
        elif action in TAKEN_BY and rep:
            line.assigned += 1
            first_taken.setdefault(lead, ts)
            fallbacks += action == A.AUTO_ASSIGN
        elif action == A.RECYCLE:
            line.recycles += 1
    reps.pop("", None)
    return Side(reps, _team(entries, eligible, published, first_taken, rejections, offers,
                            fallbacks))


def _team(entries: list[tuple[str, Fields]], eligible: Collection[str],
          published: dict[str, int], first_taken: dict[str, int], rejections: Counter[str],
          offers: int, fallbacks: int) -> dict[str, Any]:
    figures = fairness(entries, eligible).team
    delays = sorted(first_taken[lead] - at for lead, at in published.items()
                    if lead in first_taken)
    return {
        **dataclasses.asdict(figures),
        "leads": len(published), "offers": offers,
        "untaken": sum(1 for lead in published if lead not in first_taken),
        "fallback_assignments": fallbacks, "rejections": dict(sorted(rejections.items())),
        "first_claim_ms_p50": round(statistics.median(delays)) if delays else None,
        "first_claim_ms_p90": delays[int(0.9 * (len(delays) - 1))] if delays else None,
    }


@dataclass(slots=True)
class WhatIf:
    """Recorded and new figures, and how the replay ran."""

    recorded: Side
    new: Side
    replay_seconds: float
    entries: int

    def as_json(self) -> dict[str, Any]:
        return {"limits": LIMITS, "entries": self.entries,
                "replay_seconds": round(self.replay_seconds, 3),
                "recorded": dataclasses.asdict(self.recorded),
                "new": dataclasses.asdict(self.new)}


def what_if(recorded: list[tuple[str, Fields]], new: list[tuple[str, Fields]],
            eligible: Iterable[str], seconds: float) -> WhatIf:
    reps = sorted(set(eligible))
    return WhatIf(side(recorded, reps), side(new, reps), seconds, len(recorded))


TEAM_ROWS = ("wins", "jain", "gini", "top10_share", "speed_decided_share", "leads", "offers",
             "untaken", "fallback_assignments", "first_claim_ms_p50", "first_claim_ms_p90")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _rows(report: WhatIf) -> list[tuple[str, str, str]]:
    old, new = report.recorded.team, report.new.team
    rows = [(name, _cell(old[name]), _cell(new[name])) for name in TEAM_ROWS]
    for reason in sorted(set(old["rejections"]) | set(new["rejections"])):
        rows.append((f"rejected {reason}", _cell(old["rejections"].get(reason, 0)),
                     _cell(new["rejections"].get(reason, 0))))
    return rows


def _rep_rows(report: WhatIf) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for rep in sorted(set(report.recorded.reps) | set(report.new.reps)):
        a, b = report.recorded.reps.get(rep, RepLine()), report.new.reps.get(rep, RepLine())
        rows.append((rep, f"{a.wins} → {b.wins}", f"{a.assigned} → {b.assigned}",
                     f"{sum(a.rejections.values())} → {sum(b.rejections.values())}",
                     f"{a.recycles} → {b.recycles}"))
    return rows


def text(report: WhatIf) -> str:
    """The report as a terminal table."""
    lines = [f"{'':28} {'recorded':>12} {'new rules':>12}"]
    lines += [f"{name:28} {old:>12} {new:>12}" for name, old, new in _rows(report)]
    lines += ["", f"{'rep':12} {'wins':>12} {'assigned':>12} {'rejected':>12} {'recycled':>12}"]
    lines += [f"{r[0]:12} " + " ".join(f"{c:>12}" for c in r[1:]) for r in _rep_rows(report)]
    lines += ["", LIMITS]
    return "\n".join(lines)


def page(report: WhatIf) -> str:
    """The report as one self-contained HTML page with a per-rep wins chart (inline SVG)."""
    def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in rows)
        return f"<table><tr>{cells}</tr>{body}</table>"
    return ("<!doctype html><meta charset=utf-8><title>LeadGrab what-if</title>"
            "<style>body{font:14px sans-serif}td,th{padding:2px 8px;text-align:right}</style>"
            "<h1>What if</h1>" + table(("", "recorded", "new rules"), list(_rows(report)))
            + chart_svg(report) + table(("rep", "wins", "assigned", "rejected", "recycled"),
                                        _rep_rows(report))
            + f"<p>{html.escape(LIMITS)}</p>")


def chart_svg(report: WhatIf) -> str:
    """Wins per rep, recorded (grey) and new (blue), as an inline SVG bar chart."""
    reps = sorted(set(report.recorded.reps) | set(report.new.reps))
    top = max([1] + [s.reps[r].wins for s in (report.recorded, report.new) for r in reps
                     if r in s.reps])
    width, bar = 22 * len(reps) + 40, 9
    bars = []
    for i, rep in enumerate(reps):
        for j, (s, colour) in enumerate(((report.recorded, "#999"), (report.new, "#36c"))):
            h = 150 * (s.reps[rep].wins if rep in s.reps else 0) / top
            bars.append(f'<rect x="{30 + 22 * i + j * bar}" y="{160 - h:.1f}" width="{bar}" '
                        f'height="{h:.1f}" fill="{colour}"><title>{html.escape(rep)}</title>'
                        "</rect>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="170">'
            + "".join(bars) + "</svg>")


def png(report: WhatIf, path: str) -> None:
    """The per-rep wins chart as a PNG (needs matplotlib: the loadtest extra)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reps = sorted(set(report.recorded.reps) | set(report.new.reps))
    xs = range(len(reps))
    fig, ax = plt.subplots(figsize=(max(6, len(reps) * 0.3), 4))
    for offset, (s, name) in enumerate(((report.recorded, "recorded"), (report.new, "new"))):
        ax.bar([x + offset * 0.4 for x in xs],
               [s.reps[r].wins if r in s.reps else 0 for r in reps], 0.4, label=name)
    ax.set_xticks(list(xs), reps, rotation=90)
    ax.set_ylabel("wins")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
