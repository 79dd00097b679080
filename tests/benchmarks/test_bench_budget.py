"""`make bench`'s time budget: Triton's per-model statistics over exactly the requests sent,
beside the same stages in-process (a tiny run; its figures are not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tritontts_client import contract as c

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
PIPELINE = (c.FRONTEND_MODEL, c.ACOUSTIC_MODEL, c.VOCODER_MODEL, c.POSTPROCESS_MODEL)


@pytest.mark.e2e
def test_quick_budget_run_accounts_for_every_request(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "budget.py", "--quick", "--out", str(tmp_path)],
                          cwd=BENCHMARKS, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "budget.json").read_text())
    assert [run["concurrency"] for run in result["runs"]] == [1, 2]
    for run in result["runs"]:
        sent = run["requests"]
        assert sent == result["sentences"] * run["concurrency"]  # one round each
        # The statistics cover exactly the requests sent: no warm-up, nothing else.
        for model in (c.TTS_MODEL, *PIPELINE):
            assert run["stats"][model]["requests"] == sent, model
        assert run["mean_wall_ms"] > 0 and run["requests_per_s"] > 0
    single = result["runs"][0]
    # One client: no batch ever forms, so every execution is one request.
    for model in PIPELINE:
        assert single["stats"][model]["executions"] == single["requests"], model
        assert result["compute_s"][model] > 0, model
    # The table names every share.
    table = done.stdout
    for share in ("client + gRPC", "ensemble hops", *(f"{m}: queue" for m in PIPELINE),
                  *(f"{m}: compute (in-process)" for m in PIPELINE)):
        assert share in table, share
