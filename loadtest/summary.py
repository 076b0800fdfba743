"""The human-readable summary of a result, and its difference from an earlier one."""

from __future__ import annotations

from typing import Any

LATENCY_KEYS = ("p50", "p90", "p99", "p99.9", "max")
COMPARED = (
    "claims/per_s", "claims/latency_ms/p50", "claims/latency_ms/p90", "claims/latency_ms/p99",
    "claims/latency_ms/p99.9", "claims/latency_ms/max", "fanout/latency_ms/p50",
    "fanout/latency_ms/p99", "fanout/first_rep_ms/p50", "fanout/last_rep_ms/p50",
    "fanout/last_rep_ms/p99", "fanout/last_rep_ms/max", "fairness/jain", "window/pending_ms/p99",
    "window/final_ms/p50", "window/final_ms/p99", "window/added_ms/p50", "window/added_ms/p99",
    "window/opener_added_ms/p50", "window/opener_added_ms/p99", "window/settle_lag_ms/p50",
    "window/settle_lag_ms/p99", "window/final_missing",
    "fanout/missed", "connections/connected",
    "connections/error_count", "connections/disconnect_count", "ceilings/redis_set_nx/ops_per_s",
    "ceilings/claim_script/ops_per_s", "ceilings/echo/per_s", "ceilings/echo/latency_ms/p99",
    "ratios/claims_vs_echo_throughput/ratio", "ratios/claim_p99_vs_echo_p99/ratio",
    "ratios/claims_vs_claim_script/ratio", "server/rss_kb_per_connection",
    "invariants/violations", "cost/cpu_us_per_claim", "cost/cpu_us_per_frame",
    "cost/kernel_us_per_claim", "cost/kernel_us_per_frame",
    "ceilings/echo/cpu_us_per_message", "ratios/cpu_per_claim_vs_echo_message/ratio",
    "fanout/first_spread/top_share", "fanout/first_spread/chi2_p",
    "fanout/first_spread/top_p", "server/server_cpu_pct",
    "server/machine_busy_pct",
)


def _lat(summary: dict[str, Any]) -> str:
    if not summary.get("count"):
        return "no samples"
    parts = " ".join(f"{k}={summary[k]:.2f}" for k in LATENCY_KEYS)
    return f"{parts} ms (n={summary['count']})"


def text(result: dict[str, Any]) -> str:
    """A few lines a person reads first."""
    s, c, f = result["scenario"], result["connections"], result["fanout"]
    lines = [
        f"scenario {s['name']} ({s['kind']}): {s['reps']} reps, {s['workers']} workers, "
        f"{s['duration_s']} s, run {result['run_id']}",
        f"connections: {c['connected']}/{c['target']} in {c['connect_s']} s, "
        f"errors {c['error_count']} {c['errors'] or ''}, disconnects {c['disconnect_count']}",
        f"claims: {result['claims']['per_s']}/s, results {result['claims']['results']}, "
        f"unanswered {result['claims']['unanswered']}",
        f"claim round trip: {_lat(result['claims']['latency_ms'])}",
    ]
    if result["publish"]:
        p = result["publish"]
        lines.append(f"published: {p['published']} leads ({p['per_s']}/s), errors "
                     f"{p['errors'] or 0}, POST {_lat(p['post_latency_ms'])}")
    if f["receipts"]:
        lines += [f"fan-out, every receipt: {_lat(f['latency_ms'])}",
                  f"fan-out, first rep per lead: {_lat(f['first_rep_ms'])}",
                  f"fan-out, last rep per lead: {_lat(f['last_rep_ms'])}, missed {f['missed']}"]
    lines += _spread_lines(f) + _fairness_lines(result) + _window_lines(result)
    lines += _ceiling_lines(result) + _cost_lines(result) + _server_lines(result)
    lines += _verdict_lines(result)
    return "\n".join(lines)


def _spread_lines(fanout: dict[str, Any]) -> list[str]:
    spread = fanout.get("first_spread") or {}
    if "top_share" not in spread:
        return []
    top_p = f", p of so large a top share = {spread['top_p']}" if "top_p" in spread else ""
    return [f"first receipt: {spread['top_rep']} was first for {spread['top_share']:.1%} of "
            f"{spread['leads']} leads (fair share {spread['fair_share']:.1%} of "
            f"{spread['reps']} reps); chi-square vs uniform p = {spread['chi2_p']} "
            f"({spread['chi2_method']}){top_p}"]


def _cost_lines(result: dict[str, Any]) -> list[str]:
    c, echo = result.get("cost") or {}, result["ceilings"].get("echo") or {}
    lines = []
    if c.get("cpu_us_per_claim") is not None:
        lines.append(f"cost: server CPU {c['cpu_us_per_claim']} µs per claim, of which kernel "
                     f"{c['kernel_us_per_claim']} ({c['server_cpu_s']} s in {c['window_s']} s "
                     f"after the warm-up, all workers)")
        lines.append(f"cost: fan-out inside that window: {c.get('taken_frames')} lead_taken "
                     "frames received (leads first won after the warm-up; 0: none charged)")
    if echo.get("cpu_us_per_message") is not None:
        lines.append(f"cost: echo server CPU {echo['cpu_us_per_message']} µs per echo message, "
                     f"of which kernel {echo['kernel_us_per_message']}")
    if c.get("cpu_us_per_frame") is not None:
        lines.append(f"cost: server CPU {c['cpu_us_per_frame']} µs per delivered frame, of which"
                     f" kernel {c['kernel_us_per_frame']} ({c['server_cpu_s']} s for "
                     f"{c['frames']} frames, all workers)")
    return lines


def _fairness_lines(result: dict[str, Any]) -> list[str]:
    fair = result.get("fairness") or {}
    if not fair.get("eligible_reps"):
        return []
    groups = "; ".join(
        f"{g['reps']} reps {g['reaction_ms'][0]:g}-{g['reaction_ms'][1]:g} ms: {g['wins']} wins"
        f" ({(g['share_of_wins'] or 0) * 100:.1f}%)" for g in fair["groups"] if g["reps"])
    return [f"fairness: Jain's index of wins {fair['jain']} over {fair['eligible_reps']} reps who"
            f" claimed; wins {fair['wins']}, per rep {fair['min_wins']}..{fair['max_wins']}",
            f"  by reaction group: {groups}"]


def _window_lines(result: dict[str, Any]) -> list[str]:
    w = result.get("window") or {}
    if not w:
        return []
    return [f"window {w['window_ms']} ms, {w['policy']}: {w['pending_answers']} pending answers,"
            f" {w['final_answers']} final, {w['final_missing']} missing",
            f"  claim -> pending: {_lat(w['pending_ms'])}",
            f"  claim -> final decision: {_lat(w['final_ms'])}",
            f"  added beyond the window (final - window time left): {_lat(w['added_ms'])};"
            f" {w['final_before_close']} finals came before the window's announced close",
            f"  same, claims made as their window opened (final - window_ms): "
            f"{_lat(w['opener_added_ms'])}",
            f"  of which server side, settlement after the window's end (audit, Redis clock, "
            f"whole ms): {_lat(w['settle_lag_ms'])}"]


def _ceiling_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for name, ceiling in result["ceilings"].items():
        rate = ceiling.get("ops_per_s") or ceiling.get("per_s")
        extra = f", {_lat(ceiling['latency_ms'])}" if "latency_ms" in ceiling else ""
        lines.append(f"ceiling {name}: {rate}/s{extra}")
    for name, r in result["ratios"].items():
        lines.append(f"ratio {name}: {r['value']} / {r['ceiling_value']} = {r['ratio']}")
    return lines


def _server_lines(result: dict[str, Any]) -> list[str]:
    server = result["server"]
    if not server.get("rss_kb_before"):
        return []
    pinned = result["machine"].get("pinned")
    return [f"server RSS: {server['rss_kb_before']} -> {server['rss_kb_after']} KiB, "
            f"{server.get('rss_kb_per_connection')} KiB per connection",
            f"during the run: server process {server.get('server_cpu_pct')}% of a core, client "
            f"workers {server.get('workers_cpu_pct')}%, machine {server.get('machine_busy_pct')}%"
            " busy (all processes, all cores)" + (f"; pinned: {pinned}" if pinned else "")]


def _verdict_lines(result: dict[str, Any]) -> list[str]:
    inv = result["invariants"]
    state = "OK" if inv["ok"] else f"BROKEN ({inv['violations']} violations)"
    lines = [f"invariant exactly-one-winner: {state}; {inv['leads_checked']} leads, "
             f"audit {'checked' if inv['audit_checked'] else 'not checked'}"]
    if inv.get("examples"):
        lines.append(f"  examples: {inv['examples']}")
    for t in result["targets"]:
        mark = "met" if t["ok"] else "MISSED"
        lines.append(f"target {t['name']}: {t['value']} {t['op']} {t['limit']}: {mark}")
    return lines


def _flat(doc: dict[str, Any], path: str) -> float | None:
    node: Any = doc
    for part in path.split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return float(node) if isinstance(node, int | float) else None


def compare(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A table of the compared figures: old, new and the change in percent."""
    lines = [f"compare {old.get('run_id')} ({old.get('started_at')}) -> {new.get('run_id')}"]
    for path in COMPARED:
        before, after = _flat(old, path), _flat(new, path)
        if before is None and after is None:
            continue
        change = ""
        if before and after is not None:
            change = f"{(after - before) / before * 100:+.1f}%"
        lines.append(f"  {path:<42} {_num(before):>12} {_num(after):>12} {change:>8}")
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}".rstrip("0").rstrip(".")
