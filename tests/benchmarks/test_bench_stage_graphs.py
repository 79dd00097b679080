"""`benchmarks/stage_graphs.py`: every way of running the stage graphs, timed interleaved on the
same inputs (a tiny run; its figures are not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tritontts.piper.runtimes import cpu_features

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run_quick(out: Path, *args: str) -> tuple[dict, str]:
    done = subprocess.run([sys.executable, "stage_graphs.py", "--quick", "--out", str(out),
                           *args], cwd=BENCHMARKS, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "stage_graphs.json").read_text()), done.stdout


@pytest.mark.slow  # OpenVINO compiles five graphs
def test_quick_run_times_each_runtime_with_and_without_the_rewrite(tmp_path: Path) -> None:
    result, table = run_quick(tmp_path)
    rows = set(result["ms"])
    expected = {"acoustic, onnxruntime f32", "acoustic, openvino f32",
                "vocoder, onnxruntime f32", "vocoder, openvino f32, as exported",
                "vocoder, openvino f32, polyphase"}
    if cpu_features().bf16:
        expected |= {"vocoder, openvino bf16, as exported", "vocoder, openvino bf16, polyphase"}
    assert rows == expected
    assert all(ms > 0 for ms in result["ms"].values())
    assert result["items"] == 2 and result["rounds"] == 2
    for row in expected:
        assert row in table


@pytest.mark.slow
def test_an_isa_cap_reaches_openvino_and_drops_bf16(tmp_path: Path) -> None:
    result, _ = run_quick(tmp_path, "--isa", "AVX2")
    assert result["isa"] == "AVX2"
    assert not any("bf16" in row for row in result["ms"])
    # OpenVINO's CPU plugin took the cap: AVX2 kernels, nothing of AVX-512 or AMX.
    kernels = result["openvino_convolution_kernels"]
    assert kernels and all("avx2" in k and "512" not in k and "amx" not in k for k in kernels)
