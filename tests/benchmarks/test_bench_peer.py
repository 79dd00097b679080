"""`make bench`'s peer: Piper's own HTTP server against tritontts. Unit tests judge the report
(its goals, ratios and tables) on figures made up for the purpose; the end-to-end run starts
Piper's server and tritontts, and checks that the report it writes holds together: the goals'
verdicts follow from the measured figures, the tables show those figures, the chart is drawn."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def peer() -> ModuleType:
    """benchmarks/peer.py, imported as the benchmarks import each other (from their folder)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module("peer")
    finally:
        sys.path.remove(str(BENCHMARKS))


def made_up(peer: ModuleType, triton_rps: float, piper_rps: float, triton_ms: float,
            piper_ms: float) -> dict[str, Any]:
    """A report from made-up measurements: two sentences, concurrency 1 and PEER_CONCURRENCY."""
    sentences = [{"sentence": f"Sentence {i}.", "audio_s": 1.5 + i, "piper_audio_s": 1.4 + i,
                  "triton_ms": triton_ms / 2, "piper_ms": piper_ms / 2, "direct_ms": 100.0}
                 for i in range(2)]
    latency = {"sentences": sentences, "rounds": 3, "triton_ms_total": triton_ms,
               "piper_ms_total": piper_ms, "direct_ms_total": 200.0, "audio_s_total": 4.0,
               "piper_audio_s_total": 3.8, "foreign_cores": [0.1]}
    concurrencies = (1, peer.PEER_CONCURRENCY)

    def point(rps: float) -> dict[str, Any]:
        return {"requests_per_s": rps, "audio_s_per_s": 2 * rps, "foreign_cores_rounds": [0.2]}

    points = {peer.TRITON: {c: point(triton_rps * c) for c in concurrencies},
              peer.PIPER: {c: point(piper_rps * c) for c in concurrencies},
              peer.DIRECT: {c: point(1.0) for c in concurrencies},
              peer.DIRECT_SEQUENTIAL: {c: point(0.5) for c in concurrencies}}
    report = peer.summarize(latency, points, concurrencies)
    report["goals"] = peer.peer_goals(report)
    return report


def verdicts(report: dict[str, Any]) -> list[bool]:
    return [goal["met"] for goal in report["goals"]]


def test_goals_are_met_exactly_at_their_thresholds(peer: ModuleType) -> None:
    at = made_up(peer, triton_rps=peer.PEER_THROUGHPUT_GOAL, piper_rps=1.0,
                 triton_ms=peer.PEER_LATENCY_GOAL * 1000, piper_ms=1000)
    assert verdicts(at) == [True, True]
    assert at["triton_vs_piper_requests_per_s"][str(peer.PEER_CONCURRENCY)] == pytest.approx(
        peer.PEER_THROUGHPUT_GOAL)
    short = made_up(peer, triton_rps=peer.PEER_THROUGHPUT_GOAL * 0.99, piper_rps=1.0,
                    triton_ms=peer.PEER_LATENCY_GOAL * 1010, piper_ms=1000)
    assert verdicts(short) == [False, False]
    # What a goal says it measured is the ratio it judged.
    assert short["goals"][1]["measured"].startswith(
        f"{short['latency']['triton_vs_piper']:.3f}×")


def test_without_the_goal_concurrency_only_latency_is_judged(peer: ModuleType) -> None:
    report = made_up(peer, 2.0, 1.0, 500, 1000)
    del report["triton_vs_piper_requests_per_s"][str(peer.PEER_CONCURRENCY)]
    goals = peer.peer_goals(report)
    assert len(goals) == 1 and "latency" in goals[0]["goal"] and goals[0]["met"]


def test_the_markdown_tables_show_the_figures(peer: ModuleType) -> None:
    report = made_up(peer, 2.0, 1.0, 600, 1000)
    lines = peer.peer_markdown(report)
    assert "| Sentence 0. | 1.50 | 1.40 | 300.0 | 500.0 | 100.0 | 0.60 |" in lines
    assert any(line.startswith("| **all (sum of medians)** | 4.00 | 3.80 | 600.0 | 1000.0 |")
               for line in lines)
    assert (f"| {peer.PEER_CONCURRENCY} | 8.00 (16.0) | 4.00 (8.0) | 1.00 (2.0) | 2.00 | 0.20 |"
            in lines)


@pytest.mark.e2e
def test_quick_peer_run_writes_a_report_that_holds_together(peer: ModuleType,
                                                            tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "peer.py", "--quick", "--patience", "0",
                           "--out", str(tmp_path)], cwd=BENCHMARKS, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "peer.json").read_text())
    assert result["sides"] == [peer.TRITON, peer.PIPER, peer.DIRECT]
    for side in result["sides"]:
        for point in result["throughput"][side].values():
            assert point["requests_per_s"] > 0 and point["audio_s_per_s"] > 0
    latency = result["latency"]
    for row in latency["sentences"]:
        assert row["piper_ms"] > 0 and row["triton_ms"] > 0 and row["direct_ms"] > 0
        # Same voice, same text: Piper's WAV is as long as ours give or take the pauses.
        assert row["piper_audio_s"] == pytest.approx(row["triton_audio_s"], rel=0.1)
    # The totals are the sums of the rows, and each verdict follows from them.
    for side in ("triton", "piper", "direct"):
        assert latency[f"{side}_ms_total"] == pytest.approx(
            sum(row[f"{side}_ms"] for row in latency["sentences"]))
    ratio = latency["triton_ms_total"] / latency["piper_ms_total"]
    assert latency["triton_vs_piper"] == pytest.approx(ratio)
    goal = next(g for g in result["goals"] if "latency" in g["goal"])
    assert goal["met"] == (ratio <= peer.PEER_LATENCY_GOAL)
    for concurrency, r in result["triton_vs_piper_requests_per_s"].items():
        t = result["throughput"]
        assert r == pytest.approx(t[peer.TRITON][concurrency]["requests_per_s"]
                                  / t[peer.PIPER][concurrency]["requests_per_s"])
    markdown = (tmp_path / "peer.md").read_text()
    for g in result["goals"]:
        assert f"- {'met' if g['met'] else 'missed'}: {g['goal']}: {g['measured']}" in markdown
    for row in latency["sentences"]:
        assert f"{row['triton_ms']:.1f} | {row['piper_ms']:.1f} | {row['direct_ms']:.1f}" \
            in markdown
    # The chart: two panels side by side, and something drawn in them.
    import matplotlib.image

    image = matplotlib.image.imread(tmp_path / "peer.png")
    height, width = image.shape[:2]
    assert width > 1.5 * height and float(np.std(image[..., :3])) > 0.05


def test_unseen_sentences_are_each_said_once_by_every_side(peer: ModuleType) -> None:
    said: dict[str, list[str]] = {"tritontts": [], "piper": []}

    def speaker(side: str):
        def speak(text: str) -> float:
            said[side].append(text)
            return 1.0
        return speak

    sentences = [f"Sentence number {i}." for i in range(5)]
    result = peer.measure_unseen({side: speaker(side) for side in said}, sentences)
    assert said["tritontts"] == said["piper"] == sentences  # once each, none repeated
    assert result["sentences"] == 5
    for side in said:
        assert 0 < result["ms_median"][side] <= result["ms_p90"][side] <= result["ms_total"][side]
    line = peer.unseen_line({**result, "ms_total": {peer.TRITON: 600.0, peer.PIPER: 800.0},
                             "ms_median": {peer.TRITON: 100.0, peer.PIPER: 150.0}})
    assert "tritontts ÷ Piper 0.75" in line
