"""The run's result: the JSON document, its ratios and targets, and the text summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadtest import cost, fairness
from loadtest.audit import AuditView
from loadtest.histogram import Latency
from loadtest.invariant import Verdict
from loadtest.publisher import Publisher
from loadtest.scenario import Scenario
from loadtest.tally import Tally

FORMAT_VERSION = 1


@dataclass
class RunData:
    """Everything a run measured, before it is shaped into the report."""

    scenario: Scenario
    run_id: str
    started_at: str
    machine: dict[str, Any]
    target: dict[str, Any]
    tally: Tally
    measured_s: float
    connect_s: float
    verdict: Verdict
    publisher: Publisher | None = None
    ceilings: dict[str, Any] = field(default_factory=dict)
    server: dict[str, Any] = field(default_factory=dict)
    audit: AuditView | None = None


def build(data: RunData) -> dict[str, Any]:
    """The JSON result document."""
    result: dict[str, Any] = {
        "format": FORMAT_VERSION, "run_id": data.run_id, "started_at": data.started_at,
        "scenario": data.scenario.model_dump(mode="json"), "machine": data.machine,
        "target": data.target, "connections": _connections(data), "claims": _claims(data),
        "fanout": _fanout(data), "publish": _publish(data.publisher, data.measured_s),
        "invariants": data.verdict.to_dict(), "ceilings": data.ceilings, "server": data.server,
        "wins_per_rep": fairness.wins_per_rep(data.tally),
        "fairness": fairness.section(data.tally, data.scenario), "window": _window(data),
        "cost": cost.section(data.scenario.kind, data.server, data.tally,
                             data.tally.claim.count / data.measured_s if data.measured_s else 0),
    }
    result["ratios"] = ratios(result)
    result["targets"] = targets(data.scenario, result)
    return result


def _connections(data: RunData) -> dict[str, Any]:
    t = data.tally
    return {"target": data.scenario.reps, "connected": t.connected,
            "connect_s": round(data.connect_s, 3), "errors": dict(t.errors),
            "error_count": sum(t.errors.values()), "disconnects": dict(t.disconnects),
            "disconnect_count": sum(t.disconnects.values())}


def _claims(data: RunData) -> dict[str, Any]:
    t = data.tally
    return {"sent": t.claims_sent, "answered": t.answered, "unanswered": t.unanswered,
            "measured": t.claim.count, "measured_s": round(data.measured_s, 3),
            "per_s": round(t.claim.count / data.measured_s, 1) if data.measured_s else 0.0,
            "results": dict(sorted(t.results.items())), "latency_ms": t.claim.summary(),
            "curve_ms": t.claim.curve()}


def _window(data: RunData) -> dict[str, Any]:
    """Window-mode figures, when the run was in window mode or saw a `pending`."""
    window = data.tally.window
    if data.scenario.mode != "window" and not window.held:
        return {}
    lag = data.audit.settle_lag().summary() if data.audit else {"count": 0}
    return {"window_ms": data.scenario.window_ms, "policy": data.scenario.window_policy,
            **window.summary(), "settle_lag_ms": lag}


def _fanout(data: RunData) -> dict[str, Any]:
    t = data.tally
    first, last = Latency(), Latency()
    for seen in t.leads.values():
        if seen.receipts:
            first.record_us(seen.first_us)
            last.record_us(seen.last_us)
    # A POST that timed out may still have published: count the leads the clients saw too.
    published = max(data.publisher.published if data.publisher else 0, len(t.leads))
    expected = published * t.connected if data.scenario.kind == "live" else 0
    return {"leads": published, "receipts": t.fanout.count, "expected": expected,
            "missed": max(0, expected - t.fanout.count), "latency_ms": t.fanout.summary(),
            "first_rep_ms": first.summary(), "last_rep_ms": last.summary(),
            "curve_ms": t.fanout.curve(),
            "last_rep_curve_ms": last.curve(), "first_spread": cost.first_spread(t)}


def _publish(publisher: Publisher | None, seconds: float) -> dict[str, Any]:
    if publisher is None:
        return {}
    return {"published": publisher.published, "errors": dict(publisher.errors),
            "per_s": round(publisher.published / seconds, 1) if seconds else 0.0,
            "post_latency_ms": publisher.post.summary()}


def _get(doc: dict[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


RATIOS = (  # name, figure, ceiling, higher is better for the figure
    ("claims_vs_echo_throughput", "claims/per_s", "ceilings/echo/per_s"),
    ("claim_p99_vs_echo_p99", "claims/latency_ms/p99", "ceilings/echo/latency_ms/p99"),
    ("claims_vs_claim_script", "claims/per_s", "ceilings/claim_script/ops_per_s"),
    ("claims_vs_redis_set_nx", "claims/per_s", "ceilings/redis_set_nx/ops_per_s"),
    ("claim_script_vs_redis_set_nx", "ceilings/claim_script/ops_per_s",
     "ceilings/redis_set_nx/ops_per_s"),
    ("cpu_per_claim_vs_echo_message", "cost/cpu_us_per_claim",
     "ceilings/echo/cpu_us_per_message"),
)


def ratios(result: dict[str, Any]) -> dict[str, Any]:
    """Each figure next to its ceiling measured in the same run, as figure / ceiling."""
    out = {}
    for name, figure, ceiling in RATIOS:
        value, limit = _get(result, figure), _get(result, ceiling)
        if isinstance(value, int | float) and isinstance(limit, int | float) and value and limit:
            out[name] = {"figure": figure, "value": value, "ceiling": ceiling,
                         "ceiling_value": limit, "ratio": round(value / limit, 3)}
    return out


TARGETS = {  # scenario key: (result path, comparison)
    "claim_p99_ms": ("claims/latency_ms/p99", "<="),
    "fanout_last_p99_ms": ("fanout/last_rep_ms/p99", "<="),
    "claim_vs_echo_throughput_min": ("ratios/claims_vs_echo_throughput/ratio", ">="),
    "claim_vs_echo_p99_max": ("ratios/claim_p99_vs_echo_p99/ratio", "<="),
    "rss_kb_per_connection_max": ("server/rss_kb_per_connection", "<="),
    "max_errors": ("connections/problems", "<="),
    "jain_min": ("fairness/jain", ">="),
    "window_added_p99_ms": ("window/added_ms/p99", "<="),
}


def targets(scenario: Scenario, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The scenario's thresholds, each with the measured value and whether it was met."""
    publish_errors = sum(result["publish"].get("errors", {}).values())
    result["connections"]["problems"] = (result["connections"]["error_count"]
                                         + result["connections"]["disconnect_count"]
                                         + publish_errors)
    out = []
    for name, limit in scenario.targets.model_dump().items():
        if limit is None:
            continue
        path, op = TARGETS[name]
        value = _get(result, path)
        ok = value is not None and (value <= limit if op == "<=" else value >= limit)
        out.append({"name": name, "path": path, "limit": limit, "op": op, "value": value,
                    "ok": ok})
    return out
