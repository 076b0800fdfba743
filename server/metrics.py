"""Every Prometheus metric LeadGrab exports, on an injected registry, with bounded labels."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """The server's metrics; labels are outcome, reason, transport and close code: all bounded."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.claims = Counter("leadgrab_claims_total", "Claims decided, by result and reason.",
                              ["result", "reason", "transport"], registry=r)
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
        self.connected = Gauge("leadgrab_connected_reps", "Authenticated WebSocket connections.",
                               registry=r)
        self.disconnects = Counter("leadgrab_disconnects_total",
                                   "Connections the server closed, by close code.", ["code"],
                                   registry=r)
        self.protocol_errors = Counter("leadgrab_protocol_errors_total",
                                       "Bad frames and refused requests, by error code.",
                                       ["code"], registry=r)
        self.redis_errors = Counter("leadgrab_redis_errors_total",
                                    "Redis calls that failed (unavailable or erroring).",
                                    registry=r)
