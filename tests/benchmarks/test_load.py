"""The Locust load test and its SLO verdict (benchmarks/load.py): the verdict on synthetic
statistics, and short headless runs against the test server that must pass an easy SLO and fail
an impossible one."""

from __future__ import annotations

import csv
import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tritontts.serving.server import TritonServer

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
# Locust's stats CSV header (2.x): the columns load.py reads, among the others.
CSV_COLUMNS = ["Type", "Name", "Request Count", "Failure Count", "Median Response Time",
               "Average Response Time", "Min Response Time", "Max Response Time",
               "Average Content Size", "Requests/s", "Failures/s", "50%", "66%", "75%", "80%",
               "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]


@pytest.fixture(scope="module")
def load() -> ModuleType:
    """benchmarks/load.py, imported as the benchmarks import each other (from their folder)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module("load")
    finally:
        sys.path.remove(str(BENCHMARKS))


def stats_row(name: str, requests: int, failures: int, p95_ms: float) -> dict[str, str]:
    row = dict.fromkeys(CSV_COLUMNS, "0")
    row.update({"Type": "grpc", "Name": name, "Request Count": str(requests),
                "Failure Count": str(failures), "95%": str(p95_ms), "50%": str(p95_ms / 2)})
    return row


def write_stats(prefix: Path, rows: list[dict[str, str]],
                aggregate_p95_ms: float | None = None) -> None:
    """A stats CSV as Locust writes it, with the aggregate row last."""
    if aggregate_p95_ms is None:
        aggregate_p95_ms = max((float(r["95%"]) for r in rows), default=0.0)
    aggregate = stats_row("Aggregated", sum(int(r["Request Count"]) for r in rows),
                          sum(int(r["Failure Count"]) for r in rows), aggregate_p95_ms)
    aggregate["Type"] = ""
    with open(f"{prefix}_stats.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows([*rows, aggregate])


def judge(load: ModuleType, tmp_path: Path, rows: list[dict[str, str]],
          slo_ms: float = 200.0) -> tuple[bool, list[str]]:
    write_stats(tmp_path / "run", rows)
    return load.verdict(load.read_stats(tmp_path / "run"), slo_ms, r"short|first audio", 0.01)


def test_verdict_passes_within_slo(load: ModuleType, tmp_path: Path) -> None:
    passed, reasons = judge(load, tmp_path, [stats_row("tts short", 200, 1, 150.0),
                                             stats_row("tts long", 50, 0, 900.0)])
    assert passed, reasons  # one failure in 250 is under 1%; long texts are not judged


def test_verdict_fails_without_requests(load: ModuleType, tmp_path: Path) -> None:
    passed, reasons = judge(load, tmp_path, [])
    assert not passed
    assert reasons == ["no request was made"]


def test_verdict_fails_on_more_than_one_percent_failures(load: ModuleType,
                                                         tmp_path: Path) -> None:
    passed, reasons = judge(load, tmp_path, [stats_row("tts short", 100, 2, 50.0)])
    assert not passed
    assert reasons == ["2/100 requests failed (more than 1%)"]


def test_verdict_fails_when_p95_exceeds_slo(load: ModuleType, tmp_path: Path) -> None:
    passed, reasons = judge(load, tmp_path, [stats_row("tts short", 100, 0, 250.0),
                                             stats_row("tts_stream first audio", 20, 0, 90.0)])
    assert not passed
    assert reasons == ["tts short: p95 250 ms > SLO 200 ms"]


def test_pooled_verdict_judges_all_requests_together(load: ModuleType, tmp_path: Path) -> None:
    # 8 HTTP requests: their p95 is their slowest; pooled with 100 gRPC ones it is not.
    rows = [stats_row("tts short", 100, 0, 120.0), stats_row("http tts short", 8, 0, 700.0)]
    write_stats(tmp_path / "run", rows, aggregate_p95_ms=150.0)
    stats = load.read_stats(tmp_path / "run")
    assert load.verdict(stats, 200.0, "short", 0.01, pooled=True) == (True, [])
    assert load.verdict(stats, 200.0, "short", 0.01) == (
        False, ["http tts short: p95 700 ms > SLO 200 ms"])


def test_user_classes_follow_tags(load: ModuleType) -> None:
    # A class none of whose tasks carries the tag must not be started: it would only fail.
    assert load.user_classes_with_tags(["short"]) == ["GrpcUser", "KServeHttpUser"]
    assert load.user_classes_with_tags(["stream"]) == ["StreamUser"]


def run_load(server: TritonServer, tmp_path: Path, slo_ms: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / "load.py"), "--host", server.grpc_url,
         "--http-host", f"http://{server.http_url}", "--users", "2", "--spawn-rate", "2",
         "--duration", "6s", "--tags", "short", "--slo-ms", str(slo_ms),
         "--out-dir", str(tmp_path), "--name", "smoke"],
        capture_output=True, text=True, timeout=120)


@pytest.mark.e2e
def test_easy_slo_is_met(server: TritonServer, tmp_path: Path) -> None:
    result = run_load(server, tmp_path, slo_ms=60000)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SLO MET" in result.stdout
    assert (tmp_path / "smoke_stats.csv").exists()


@pytest.mark.e2e
def test_impossible_slo_is_missed(server: TritonServer, tmp_path: Path) -> None:
    result = run_load(server, tmp_path, slo_ms=0.001)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "SLO MISSED" in result.stdout
    assert "p95" in result.stdout  # missed for its latency, not for want of requests
