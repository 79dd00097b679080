"""`make load`: a headless Locust run with an SLO verdict.

Runs benchmarks/locustfile.py against HOST (gRPC HOST:PORT; HTTP is taken from HTTP_HOST or
the same host on port 8000), or against a server it starts itself when no host is given.
Writes CSV and HTML reports under benchmarks/results/, prints p50/p95/p99 per request name,
and exits non-zero when the p95 of the SLO requests exceeds --slo-ms, when more than
--max-failure-ratio of all requests failed, or when no request was made.

The SLO applies to real-time requests: by default the short-text requests and the streaming
time to first audio (--slo-on, a regular expression over request names); medium and long texts
are load, reported but not judged.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from common import RESULTS, start_server

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


def run_locust(grpc_host: str, http_host: str, users: int, spawn_rate: float, duration: str,
               prefix: Path, tags: list[str]) -> None:
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-u", str(users), "-r", str(spawn_rate), "-t", duration,
        "--grpc-host", grpc_host, "--host", http_host,
        "--csv", str(prefix), "--html", f"{prefix}.html",
        "--exit-code-on-error", "0", "--stop-timeout", "30", "--loglevel", "WARNING",
        "--only-summary",
    ]
    if tags:
        command += ["--tags", *tags]
    subprocess.run(command, check=True)


def read_stats(prefix: Path) -> list[dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return list(csv.DictReader(f))


def verdict(rows: list[dict[str, str]], slo_ms: float, slo_on: str,
            max_failure_ratio: float) -> tuple[bool, list[str]]:
    """(passed, reasons): the judgement of one run's statistics."""
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


def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)

    RESULTS.mkdir(exist_ok=True)
    prefix = RESULTS / args.name
    with ExitStack() as stack:
        if args.host:
            grpc_host = args.host
            http_host = args.http_host or f"http://{args.host.rsplit(':', 1)[0]}:8000"
        else:
            server = start_server(stack)
            grpc_host, http_host = server.grpc_url, f"http://{server.http_url}"
        print(f"locust: {args.users} users for {args.duration} against gRPC {grpc_host}, "
              f"HTTP {http_host}", file=sys.stderr)
        run_locust(grpc_host, http_host, args.users, args.spawn_rate, args.duration, prefix,
                   args.tags)
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
