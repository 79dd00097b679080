"""The README's first command, `make demo`, as a new user runs it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import soundfile

from tritontts.serving.server import free_port

from helpers import assert_speech

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
DEMO_TEXT = "Hello! This sentence was spoken by a Triton Inference Server running on a plain CPU."


def test_make_demo_writes_speech(tmp_path: Path) -> None:
    out = tmp_path / "demo.wav"
    env = {**os.environ, "HTTP_PORT": str(free_port()), "GRPC_PORT": str(free_port()),
           "METRICS_PORT": str(free_port()), "DEMO_OUT": str(out)}
    result = subprocess.run(["make", "demo"], cwd=ROOT, env=env, capture_output=True,
                            timeout=600, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()[-3000:]
    info = soundfile.info(str(out))
    assert (info.samplerate, info.channels) == (22050, 1)
    audio, rate = soundfile.read(str(out), dtype="float32")
    # The yardstick for the demo sentence: 0.25 to 0.8 s per word.
    assert_speech(audio, rate, DEMO_TEXT, seconds_per_word=(0.25, 0.8))
