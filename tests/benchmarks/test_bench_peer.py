"""`make bench`'s peer: Piper's own HTTP server starts, answers, and the report has all three
sides (a tiny run; its figures are not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.e2e
def test_quick_peer_run_reports_three_sides(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "peer.py", "--quick", "--patience", "0",
                           "--out", str(tmp_path)], cwd=BENCHMARKS, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "peer.json").read_text())
    assert result["sides"] == ["triton", "piper http_server", "direct"]
    for side in result["sides"]:
        for point in result["throughput"][side].values():
            assert point["requests_per_s"] > 0 and point["audio_s_per_s"] > 0
    for row in result["latency"]["sentences"]:
        assert row["piper_ms"] > 0 and row["triton_ms"] > 0 and row["direct_ms"] > 0
        # Same voice, same text: Piper's WAV is as long as ours give or take the pauses.
        assert row["piper_audio_s"] == pytest.approx(row["triton_audio_s"], rel=0.1)
    markdown = (tmp_path / "peer.md").read_text()
    assert "Piper" in markdown and "tritontts" in markdown and "direct" in markdown
    assert [g["goal"] for g in result["goals"]]  # the goals are stated, met or not
    assert (tmp_path / "peer.png").stat().st_size > 10_000
