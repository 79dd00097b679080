"""`make load`: a headless Locust run with an SLO verdict.

Runs benchmarks/locustfile.py against HOST (gRPC HOST:PORT; HTTP is taken from HTTP_HOST or
the same host on port 8000), or against a server it starts itself when no host is given.
Writes CSV and HTML reports under benchmarks/results/, prints p50/p95/p99 per request name,
and exits non-zero when the p95 of the SLO requests exceeds --slo-ms, when more than
--max-failure-ratio of all requests failed, or when no request was made.

The SLO applies to real-time requests: by default the short-text requests and the streaming
time to first audio (--slo-on, a regular expression over request names); medium and long texts
are load, reported but not judged.

--capacity searches for the most users the deployment serves within the SLO: one short run per
user count (--capacity-users), short texts only, each user waiting 1–2 s between requests as in
the locustfile, stopping at the first count that misses; the p95 judged is that of all short
requests together. It prints a table and exits 0 when at least one count met the SLO.
"""

from __future__ import annotations

import argparse
import ast
import csv
import json
import re
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cpu_meter import ForeignCpu

from tritontts.piper.cpu import CPU_TUNINGS

from common import RESULTS, start_server

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
RAMP_S = 2.0  # capacity runs: seconds over which the users start


def user_classes_with_tags(tags: list[str], locustfile: Path = LOCUSTFILE) -> list[str]:
    """The User classes of the locustfile that have a task with one of `tags`.

    Locust keeps a User class whose tasks were all filtered out by --tags, and each such user
    fails on start, again and again; naming the classes to run avoids them. The locustfile is
    read, not imported: importing it would patch this process for gevent.
    """
    return [node.name for node in ast.parse(locustfile.read_text()).body
            if isinstance(node, ast.ClassDef) and _task_tags(node) & set(tags)]


def _task_tags(user_class: ast.ClassDef) -> set[str]:
    """The arguments of every @tag(...) on the methods of a class."""
    return {arg.value for method in user_class.body if isinstance(method, ast.FunctionDef)
            for decorator in method.decorator_list
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "tag"
            for arg in decorator.args if isinstance(arg, ast.Constant)}


def run_locust(grpc_host: str, http_host: str, users: int, spawn_rate: float, duration: str,
               prefix: Path, tags: list[str], reset_stats: bool = False,
               quiet: bool = False) -> None:
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-u", str(users), "-r", str(spawn_rate), "-t", duration,
        "--grpc-host", grpc_host, "--host", http_host,
        "--csv", str(prefix), "--html", f"{prefix}.html",
        "--exit-code-on-error", "0", "--stop-timeout", "30", "--loglevel", "WARNING",
        "--only-summary",
    ]
    if reset_stats:  # leave the ramp-up out of the statistics
        command.append("--reset-stats")
    if tags:
        command += ["--tags", *tags, *user_classes_with_tags(tags)]
    if not quiet:
        subprocess.run(command, check=True)
        return
    # quiet: Locust's own summary tables go unshown (the CSV report has the same figures),
    # unless Locust fails, when what it said is the explanation.
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode:
        sys.stderr.write(run.stdout + run.stderr)
        run.check_returncode()


def read_stats(prefix: Path) -> list[dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return list(csv.DictReader(f))


def verdict(rows: list[dict[str, str]], slo_ms: float, slo_on: str,
            max_failure_ratio: float, pooled: bool = False) -> tuple[bool, list[str]]:
    """(passed, reasons): the judgement of one run's statistics. `pooled`: judge the p95 of
    all requests together (Locust's "Aggregated" row) instead of each request name's own; for
    runs whose requests all fall under the SLO, where a name with few requests would make its
    p95 little more than its slowest request."""
    total = next((r for r in rows if r["Name"] == "Aggregated"), None)
    requests = int(total["Request Count"]) if total else 0
    failures = int(total["Failure Count"]) if total else 0
    reasons = []
    if requests == 0:
        return False, ["no request was made"]
    if failures / requests > max_failure_ratio:
        reasons.append(f"{failures}/{requests} requests failed "
                       f"(more than {max_failure_ratio:.0%})")
    judged = [r for r in rows if r["Name"] != "Aggregated" and re.search(slo_on, r["Name"])]
    if not judged:
        reasons.append(f"no request matched the SLO pattern {slo_on!r}")
    elif pooled:
        judged = [total]
    for row in judged:
        p95 = float(row["95%"])
        if p95 > slo_ms:
            reasons.append(f"{row['Name']}: p95 {p95:.0f} ms > SLO {slo_ms:.0f} ms")
    return not reasons, reasons


def print_table(rows: list[dict[str, str]]) -> None:
    print(f"{'request':<28} {'count':>6} {'fail':>5} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7} {'req/s':>6}")
    for row in rows:
        print(f"{row['Name']:<28} {row['Request Count']:>6} {row['Failure Count']:>5} "
              f"{row['50%']:>7} {row['95%']:>7} {row['99%']:>7} "
              f"{float(row['Requests/s']):6.2f}")


def pooled_figures(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Requests, rate, failures and p50/p95 of all requests together (the Aggregated row)."""
    total = next((r for r in rows if r["Name"] == "Aggregated"), None)
    if total is None or int(total["Request Count"]) == 0:
        return {"requests": 0, "failures": 0, "requests_per_s": 0.0,
                "p50_ms": float("nan"), "p95_ms": float("nan")}
    return {"requests": int(total["Request Count"]), "failures": int(total["Failure Count"]),
            "requests_per_s": float(total["Requests/s"]), "p50_ms": float(total["50%"]),
            "p95_ms": float(total["95%"])}


def capacity_search(grpc_host: str, http_host: str, user_counts: list[int], duration: str,
                    out_dir: Path, name: str, slo_ms: float,
                    max_failure_ratio: float) -> list[dict[str, Any]]:
    """One short-text run per user count, in order, until one misses the SLO. Only short
    texts run, so the p95 is that of all requests together (gRPC and HTTP)."""
    steps = []
    for users in user_counts:
        print(f"capacity: {users} users for {duration}", file=sys.stderr)
        prefix = out_dir / f"{name}_{users}users"
        # Users start over RAMP_S, not all in the same instant: their first requests would
        # otherwise arrive as one burst that no steady load has; the ramp is left out.
        with ForeignCpu() as foreign:  # the machine may be shared: say when it was
            run_locust(grpc_host, http_host, users, max(1.0, users / RAMP_S), duration,
                       prefix, ["short"], reset_stats=True, quiet=True)
        rows = read_stats(prefix)
        passed, reasons = verdict(rows, slo_ms, "short", max_failure_ratio, pooled=True)
        steps.append({"users": users, **pooled_figures(rows), "passed": passed,
                      "reasons": reasons, "foreign_cores": foreign.cores})
        if not passed:
            break
    return steps


def print_capacity(steps: list[dict[str, Any]], slo_ms: float) -> int:
    """Print the table and the verdict; the largest user count that met the SLO (0: none)."""
    print(f"{'users':>5} {'requests':>8} {'req/s':>6} {'fail':>5} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'other cores':>11}  p95 <= {slo_ms:.0f} ms")
    for step in steps:
        print(f"{step['users']:>5} {step['requests']:>8} {step['requests_per_s']:6.2f} "
              f"{step['failures']:>5} {step['p50_ms']:7.0f} {step['p95_ms']:7.0f} "
              f"{step['foreign_cores']:11.2f}  "
              + ("yes" if step["passed"] else "NO: " + "; ".join(step["reasons"])))
    passing = [s["users"] for s in steps if s["passed"]]
    capacity = max(passing, default=0)
    if capacity:
        print(f"CAPACITY: {capacity} users meet p95 <= {slo_ms:.0f} ms on short texts")
    else:
        print(f"CAPACITY: no user count met p95 <= {slo_ms:.0f} ms on short texts")
    return capacity


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="", help="gRPC HOST:PORT; empty: start a server")
    parser.add_argument("--http-host", default="",
                        help="HTTP base URL (default: http://<host of --host>:8000)")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--spawn-rate", type=float, default=2)
    parser.add_argument("--duration", default="30s")
    parser.add_argument("--slo-ms", type=float, default=200.0)
    parser.add_argument("--slo-on", default=r"short|first audio",
                        help="regex of the request names the SLO applies to")
    parser.add_argument("--max-failure-ratio", type=float, default=0.01)
    parser.add_argument("--tags", nargs="*", default=[],
                        help="only these task tags (short, medium, long, stream)")
    parser.add_argument("--name", default="load", help="report file prefix")
    parser.add_argument("--out-dir", type=Path, default=RESULTS, help="where reports go")
    parser.add_argument("--capacity", action="store_true",
                        help="search the largest user count that meets the SLO (short texts)")
    parser.add_argument("--capacity-users", default="1,2,4,8,12,16,24,32",
                        help="user counts to try in order, comma-separated")
    parser.add_argument("--step-duration", default="30s", help="length of each capacity run")
    parser.add_argument("--tuning", choices=sorted(CPU_TUNINGS), default="latency",
                        help="cpu-profile tuning of the server it starts (without --host)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    prefix = args.out_dir / args.name
    with ExitStack() as stack:
        if args.host:
            grpc_host = args.host
            http_host = args.http_host or f"http://{args.host.rsplit(':', 1)[0]}:8000"
        else:
            server = start_server(stack, CPU_TUNINGS[args.tuning])
            grpc_host, http_host = server.grpc_url, f"http://{server.http_url}"
        if args.capacity:
            steps = capacity_search(grpc_host, http_host,
                                    [int(u) for u in args.capacity_users.split(",")],
                                    args.step_duration, args.out_dir, args.name, args.slo_ms,
                                    args.max_failure_ratio)
        else:
            print(f"locust: {args.users} users for {args.duration} against gRPC {grpc_host}, "
                  f"HTTP {http_host}", file=sys.stderr)
            run_locust(grpc_host, http_host, args.users, args.spawn_rate, args.duration, prefix,
                       args.tags)
    if args.capacity:
        capacity = print_capacity(steps, args.slo_ms)
        report = args.out_dir / f"{args.name}_capacity.json"
        report.write_text(json.dumps({"slo_ms": args.slo_ms, "step_duration": args.step_duration,
                                      "steps": steps, "capacity_users": capacity}, indent=2))
        print(f"reports: {report}, {args.out_dir / args.name}_<N>users_stats.csv")
        return 0 if capacity else 1
    rows = read_stats(prefix)
    print_table(rows)
    passed, reasons = verdict(rows, args.slo_ms, args.slo_on, args.max_failure_ratio)
    print(f"reports: {prefix}_stats.csv, {prefix}.html")
    if passed:
        print(f"SLO MET: p95 of requests matching {args.slo_on!r} <= {args.slo_ms:.0f} ms, "
              f"failures <= {args.max_failure_ratio:.0%}")
        return 0
    print("SLO MISSED: " + "; ".join(reasons))
    return 1


if __name__ == "__main__":
    sys.exit(main())
