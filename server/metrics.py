"""Every Prometheus metric LeadGrab exports, on an injected registry, with bounded labels."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

from server.rep_series import RepSeries

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# `leadgrab serve --workers N`: each worker writes its series to files in this folder
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# gauges every worker sets alike from Redis: the latest write wins
LATEST: Literal["livemostrecent"] = "livemostrecent"
WIN_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


class Metrics:
    """The server's metrics; every label is bounded (a rep label only for a small roster)."""

    def __init__(self, registry: CollectorRegistry | None = None,
                 rep_label_max: int = 200) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.claims = Counter("leadgrab_claims_total",
                              "Claims decided, by result, reason and team.",
                              ["result", "reason", "transport", "team"], registry=r)
        self.claim_seconds = Histogram("leadgrab_claim_seconds",
                                       "Time from receiving a claim to having its decision.",
                                       buckets=LATENCY_BUCKETS_S, registry=r)
        self.published = Counter("leadgrab_leads_published_total",
                                 "Leads published, by whether the id was new.", ["created"],
                                 registry=r)
        self.offers = Counter("leadgrab_offers_total", "Lead frames queued to connections.",
                              registry=r)
        self.broadcast_lag = Histogram("leadgrab_broadcast_lag_seconds",
                                       "Time from a lead's publication to queuing it for fan-out.",
                                       buckets=LATENCY_BUCKETS_S, registry=r)
        self.fanout = Histogram("leadgrab_fanout_seconds",
                                "Time to hand one lead offer to every local connection "
                                "(written or queued), from the moment this process read it.",
                                buckets=LATENCY_BUCKETS_S, registry=r)
        self.connected = Gauge("leadgrab_connected_reps", "Authenticated WebSocket connections.",
                               registry=r, multiprocess_mode="livesum")
        self.disconnects = Counter("leadgrab_disconnects_total",
                                   "Connections the server closed, by close code.", ["code"],
                                   registry=r)
        self.protocol_errors = Counter("leadgrab_protocol_errors_total",
                                       "Bad frames and refused requests, by error code.",
                                       ["code"], registry=r)
        self.redis_errors = Counter("leadgrab_redis_errors_total",
                                    "Redis calls that failed (unavailable or erroring).",
                                    registry=r)
        self._per_rep(r)
        self._per_team(r)
        self.reps = RepSeries(self, rep_label_max)
        self._claim_counters: dict[tuple[str, str, str, str], Any] = {}
        if registry is None and os.environ.get(MULTIPROC_ENV):
            self.registry = workers_view(self)  # /metrics: every worker's series summed

    def claim_decided(self, result: str, reason: str, transport: str, team: str) -> None:
        """Count one claim in leadgrab_claims_total (label children looked up once each)."""
        key = (result, reason, transport, team)
        child = self._claim_counters.get(key)
        if child is None:
            child = self._claim_counters[key] = self.claims.labels(*key)
        child.inc()

    def _per_rep(self, r: CollectorRegistry) -> None:
        """Series labelled by rep: only while the roster has at most rep_label_max reps."""
        who = ["team", "rep"]
        served = "counted by the process that served it (per process; a retry counts again)"
        self.rep_offers = Counter("leadgrab_rep_offers_total",
                                  "Lead offers queued to the rep's connections, live or on "
                                  "resume, by this process (each process counts its own).",
                                  who, registry=r)
        self.rep_attempts = Counter("leadgrab_rep_claim_attempts_total",
                                    f"Claim requests by the rep, {served}.", who, registry=r)
        self.rep_wins = Counter("leadgrab_rep_wins_total", f"Claims the rep won, {served}.",
                                who, registry=r)
        self.rep_losses = Counter("leadgrab_rep_losses_total",
                                  f"Claims the rep lost, {served}.", who, registry=r)
        self.rep_rejections = Counter("leadgrab_rep_rejections_total",
                                      f"Claims of the rep rejected, by reason, {served}.",
                                      [*who, "reason"], registry=r)
        self.rep_open = Gauge("leadgrab_rep_open_leads",
                              "Leads the rep holds now (read from Redis every ~15 s).",
                              who, registry=r, multiprocess_mode=LATEST)
        self.rep_followup_misses = Counter(
            "leadgrab_rep_followup_misses_total",
            "Leads taken back from the rep for a missed follow-up deadline (or a hold past "
            "max_hold_ms), counted by the process whose timer fired (each miss once).",
            who, registry=r)
        self.rep_win_seconds = Histogram(
            "leadgrab_rep_win_seconds",
            "Time from a lead's offer (publication or re-offer) to the rep winning it, "
            "for wins served by this process.", who, buckets=WIN_BUCKETS_S, registry=r)
        self.rep_score = Gauge("leadgrab_rep_score",
                               "The rep's scorecard score over the team's window (README: "
                               "The scorecard), recomputed every refresh_s.",
                               who, registry=r, multiprocess_mode=LATEST)
        self.rep_score_term = Gauge("leadgrab_rep_score_contribution",
                                    "Each term's contribution (weight x raw value) to the "
                                    "rep's score.", [*who, "term"], registry=r,
                                    multiprocess_mode=LATEST)

    def per_rep(self) -> list[Counter | Gauge | Histogram]:
        """Every series with a rep label."""
        return [self.rep_offers, self.rep_attempts, self.rep_wins, self.rep_losses,
                self.rep_rejections, self.rep_open, self.rep_followup_misses,
                self.rep_win_seconds, self.rep_score, self.rep_score_term]

    def _per_team(self, r: CollectorRegistry) -> None:
        """Team fairness over rolling windows, recomputed from the audit stream every ~15 s."""
        by = ["team", "window"]
        among = "among eligible (active, rostered) reps, over the window"
        self.team_jain = Gauge("leadgrab_team_jain_index",
                               f"Jain's fairness index of wins {among} (1 = equal).",
                               by, registry=r, multiprocess_mode=LATEST)
        self.team_gini = Gauge("leadgrab_team_gini_coefficient",
                               f"Gini coefficient of wins {among} (0 = equal).",
                               by, registry=r, multiprocess_mode=LATEST)
        self.team_top10 = Gauge("leadgrab_team_top10_win_share",
                                f"Share of wins taken by the top 10 % of reps {among}.",
                                by, registry=r, multiprocess_mode=LATEST)
        self.team_speed = Gauge("leadgrab_team_speed_decided_share",
                                "Share of fcfs contests (a win with a loser) decided by under "
                                "50 ms between the win and the first loss, over the window.",
                                by, registry=r, multiprocess_mode=LATEST)
        self.team_contests = Gauge("leadgrab_team_contests",
                                   "fcfs contests (a win with at least one loser) in the window.",
                                   by, registry=r, multiprocess_mode=LATEST)
        self.team_wins = Gauge("leadgrab_team_wins", f"Wins {among}.", by, registry=r,
                               multiprocess_mode=LATEST)
        self.fairness_scan = Gauge("leadgrab_fairness_scan_entries",
                                   "Audit entries the 24 h fairness figures count.",
                                   ["team"], registry=r, multiprocess_mode=LATEST)
        self._pool(r)

    def _pool(self, r: CollectorRegistry) -> None:
        """Pool health per team, read from the open-lead index with the fairness figures."""
        self.pool_open = Gauge("leadgrab_pool_open_leads", "Leads open in the team's pool.",
                               ["team"], registry=r, multiprocess_mode=LATEST)
        self.pool_oldest_age = Gauge("leadgrab_pool_oldest_open_age_seconds",
                                     "Age of the oldest open lead since it (re)opened "
                                     "(0 when the pool is empty).",
                                     ["team"], registry=r, multiprocess_mode=LATEST)
        self.pool_stale = Gauge("leadgrab_pool_stale_leads",
                                "Open leads unclaimed for longer than [server] "
                                "pool_stale_after_s since they (re)opened.",
                                ["team"], registry=r, multiprocess_mode=LATEST)


class _WorkersCollector:
    """Every worker's series from the multiprocess folder, summed; the per-rep series left
    out while the roster is above the label cap (files keep what a clear() dropped)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.files = MultiProcessCollector(None)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterable[Metric]:
        per_rep = {series._name for series in self.metrics.per_rep()}
        capped = not self.metrics.reps.teams
        for family in self.files.collect():  # type: ignore[no-untyped-call]
            if not (capped and family.name in per_rep):
                yield family


def workers_view(metrics: Metrics) -> CollectorRegistry:
    """The registry /metrics exposes in multiprocess mode (one coherent set across workers)."""
    view = CollectorRegistry(auto_describe=False)
    view.register(_WorkersCollector(metrics))
    return view
