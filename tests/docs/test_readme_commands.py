"""The README's two commands: they are what its first shell block says, and the first one,
`make demo`, works as a new user runs it (the second, `make test`, is the run that includes
this test)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import soundfile

from tritontts.serving.server import free_port

from helpers import assert_speech

ROOT = Path(__file__).resolve().parents[2]
DEMO_TEXT = "Hello! This sentence was spoken by a Triton Inference Server running on a plain CPU."


def readme_commands() -> list[list[str]]:
    """The commands of the README's first shell block, each without its comment."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bash\n(.*?)```", readme, re.DOTALL)
    assert block, "the README has no shell block"
    return [line.split("#", 1)[0].split() for line in block.group(1).splitlines()
            if line.strip()]


def test_the_readme_starts_with_the_two_commands() -> None:
    assert readme_commands() == [["make", "demo"], ["make", "test"]]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for _, target in readme_commands():
        assert re.search(rf"^{target}:.*## ", makefile, re.MULTILINE), target
    assert f"DEMO_TEXT ?= {DEMO_TEXT}\n" in makefile


@pytest.mark.e2e
def test_make_demo_writes_speech(tmp_path: Path) -> None:
    out = tmp_path / "demo.wav"
    env = {**os.environ, "HTTP_PORT": str(free_port()), "GRPC_PORT": str(free_port()),
           "METRICS_PORT": str(free_port()), "DEMO_OUT": str(out)}
    result = subprocess.run(readme_commands()[0], cwd=ROOT, env=env, capture_output=True,
                            timeout=600, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()[-3000:]
    info = soundfile.info(str(out))
    assert (info.samplerate, info.channels) == (22050, 1)
    audio, rate = soundfile.read(str(out), dtype="float32")
    # A plausible speaking rate for the demo sentence: 0.25 to 0.8 s per word.
    assert_speech(audio, rate, DEMO_TEXT, seconds_per_word=(0.25, 0.8))
