"""The `leadgrab-loadtest` command: run a scenario, print and save its result, compare runs."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadtest import machine, serverconfig, summary
from loadtest.pool import PoolError
from loadtest.run import Options, execute
from loadtest.scenario import ScenarioError, load, parse_reaction
from loadtest.target import TargetError

EXIT_OK, EXIT_BROKEN, EXIT_USAGE, EXIT_TARGETS, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadgrab-loadtest", description=__doc__)
    parser.add_argument("--scenario", type=Path, help="a scenario TOML file (flags override it)")
    _scenario_flags(parser.add_argument_group("scenario"))
    _target_flags(parser.add_argument_group(
        "target (default: spawn `leadgrab serve` with its own Redis)"))
    out = parser.add_argument_group("output")
    out.add_argument("--json", type=Path, help="write the result document here")
    out.add_argument("--png", type=Path, help="write the latency and wins-per-rep chart here")
    out.add_argument("--compare", type=Path, help="print the difference from this earlier result")
    out.add_argument("--profile-server", type=Path,
                     help="py-spy the server during the run: .svg, .json (speedscope) or .txt")
    out.add_argument("--workdir", type=Path, help="keep the spawned server's config and logs here")
    out.add_argument("--quiet", action="store_true", help="no progress bars")
    out.add_argument("--fail-on-targets", action="store_true",
                     help=f"exit {EXIT_TARGETS} when a scenario target is missed")
    return parser


def _target_flags(aim: argparse._ArgumentGroup) -> None:
    aim.add_argument("--url", help="a running server, e.g. http://127.0.0.1:8080")
    aim.add_argument("--secret", help="the running server's token secret (to mint tokens)")
    aim.add_argument("--team", default="lt", help="the team of reps r00001.. (default: lt)")
    aim.add_argument("--redis-url", help="the server's Redis: audit check and Redis ceilings")
    aim.add_argument("--server-pid", type=int, help="the running server's pid, for its RSS")
    aim.add_argument("--write-config", type=Path, metavar="FILE",
                     help="only write a server config with --reps reps r00001.. (team lt) and a"
                          " fresh secret, for `leadgrab serve`; then aim with --url --secret")
    aim.add_argument("--server-loop", choices=["asyncio", "uvloop"], default="asyncio",
                     help="event loop of the spawned server (an experiment; default asyncio)")
    aim.add_argument("--server-workers", type=int, default=1, metavar="N",
                     help="gateway processes of the spawned server (`leadgrab serve --workers"
                          " N`); CPU figures sum them")
    aim.add_argument("--pin-server", action="store_true",
                     help="the spawned server (and the echo server) on the last CPU, the load"
                          " generator and Redis on the others: CPU per operation without"
                          " sharing a core with the load")
    aim.add_argument("--server-command", type=shlex.split,
                     help="spawn this instead of `leadgrab` (`serve --config ...` is appended)"
                          " to benchmark a variant")


def _scenario_flags(group: argparse._ArgumentGroup) -> None:
    add = group.add_argument
    add("--name", help="a label for the run")
    add("--kind", choices=["live", "bench", "idle"],
        help="live: publish at a rate and race; bench: closed-loop claims; idle: connect and hold")
    add("--reps", type=int, help="connected reps (up to 10,000)")
    add("--workers", type=int, help="client worker processes")
    add("--duration", dest="duration_s", type=float, help="seconds to run")
    add("--rate", dest="rate_per_s", type=float, help="leads published per second (live)")
    add("--claimers", dest="claimers_per_lead", type=int, help="reps claiming each lead (live)")
    add("--reaction", help="reaction time: MIN-MAX ms, or per group of reps SHARE:MIN-MAX,..."
                           " (shares) or COUNTxMIN-MAX,... (exact counts, in rep order)")
    add("--mode", choices=["fcfs", "window"],
        help="arbitration mode written into the generated config (default fcfs)")
    add("--window-ms", dest="window_ms", type=int, help="claim window length (mode window)")
    add("--window-policy", dest="window_policy", choices=["lottery", "least_loaded", "weighted"],
        help="how a window's winner is picked (mode window; default lottery)")
    add("--codec", choices=["json", "msgpack"], help="WebSocket subprotocol")
    add("--bench-leads", type=int, help="leads published before a bench (claimed in turn)")
    add("--warmup", dest="warmup_s", type=float, help="seconds of bench/echo not measured")
    add("--ceilings", help="comma list of redis,echo, or none")
    add("--seed", type=int, help="seed for who claims and how fast")


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The scenario keys given as flags."""
    names = ("name", "kind", "reps", "workers", "duration_s", "rate_per_s", "claimers_per_lead",
             "mode", "window_ms", "window_policy", "codec", "bench_leads", "seed", "warmup_s")
    out: dict[str, Any] = {name: getattr(args, name) for name in names}
    if args.reaction:
        out["reaction"] = parse_reaction(args.reaction)
    if args.ceilings is not None:
        out["ceilings"] = [c for c in args.ceilings.split(",") if c and c != "none"]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        scenario = load(args.scenario, overrides(args))
        old = json.loads(args.compare.read_text()) if args.compare else None
    except (ScenarioError, OSError, ValueError) as exc:
        print(f"leadgrab-loadtest: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.write_config:
        return _write_config(args.write_config, scenario.reps, scenario.arbitration())
    options = Options(args.url, args.secret, args.team, args.redis_url, args.server_pid,
                      args.workdir, args.profile_server, args.quiet, args.server_loop,
                      args.server_command, args.server_workers, args.pin_server)
    try:
        result = machine.run_async(execute(scenario, options))
    except (PoolError, TargetError, OSError) as exc:
        print(f"leadgrab-loadtest: run failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return _output(args, result, old)


def _write_config(path: Path, reps: int, how: serverconfig.Arbitration) -> int:
    secret = serverconfig.new_secret()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(serverconfig.render(reps, how, 8080, path.parent.absolute() / "data",
                                        secret))
    print(f"wrote {path} with {reps} reps on team {serverconfig.TEAM}; secret: {secret}")
    return EXIT_OK


def _output(args: argparse.Namespace, result: dict[str, Any], old: dict[str, Any] | None) -> int:
    print(summary.text(result))
    if old is not None:
        print(summary.compare(old, result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.png:
        from loadtest import plot  # matplotlib is slow to import; workers import this module

        plot.render(result, args.png)
    if result["scenario"]["kind"] == "live" and not result["fanout"]["leads"]:
        print("RUN FAILED: no lead was published (see the publish errors)", file=sys.stderr)
        return EXIT_FAILED
    if not result["invariants"]["ok"]:
        print("INVARIANT BROKEN: a lead had other than exactly one winner", file=sys.stderr)
        return EXIT_BROKEN
    if args.fail_on_targets and not all(t["ok"] for t in result["targets"]):
        return EXIT_TARGETS
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
