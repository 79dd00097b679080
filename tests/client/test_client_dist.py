"""The client distribution (client/): its version in step with the server's, its lowest Python
as a checked claim, files without PyAV, and installed alone into a fresh virtualenv: none of
the server's stack, and it synthesizes against a running server."""

from __future__ import annotations

import glob
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tritontts.serving.server import TritonServer
from tritontts_client import audio
from tritontts_client.audio import AudioFormatError, encode_audio, encoder_for

from helpers import SECONDS_PER_WORD, assert_speech
from venvs import ROOT, copy_sources, fresh_venv, pip_install, run, this_python

CLIENT = ROOT / "client"
# What a caller must not get by installing the client.
SERVER_STACK = {"onnxruntime", "openvino", "nvidia-pytriton", "onnx", "torch", "piper-phonemize",
                "piper-phonemize-fix", "fastapi", "polygraphy", "onnx-graphsurgeon", "tritontts"}
TEXT = "The client alone writes this sentence."


def _project(path: Path) -> dict:
    return tomllib.loads(path.read_text())["project"]


def _lower_bound() -> tuple[int, int]:
    found = re.fullmatch(r">=(\d+)\.(\d+)", _project(CLIENT / "pyproject.toml")["requires-python"])
    assert found, "the client's requires-python is a lower bound only"
    return int(found[1]), int(found[2])


def test_client_version_in_step_with_the_server() -> None:
    server, client = _project(ROOT / "pyproject.toml"), _project(CLIENT / "pyproject.toml")
    assert client["version"] == server["version"]
    pins = [d for d in server["dependencies"] if re.match(r"tritontts-client\b", d)]
    assert [p.split("#")[0].strip() for p in pins] == [f"tritontts-client=={server['version']}"]


def test_client_lower_bound_is_what_its_code_needs() -> None:
    vermin = shutil.which("vermin", path=str(Path(sys.executable).parent))
    assert vermin, "vermin is in the dev extra"
    result = subprocess.run([vermin, "--no-tips", "--eval-annotations",
                             str(CLIENT / "tritontts_client")],
                            capture_output=True, text=True, check=False)
    found = re.search(r"Minimum required versions: (\d+)\.(\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert (int(found[1]), int(found[2])) == _lower_bound(), result.stdout


def test_wav_and_pcm_without_pyav(monkeypatch: pytest.MonkeyPatch) -> None:
    rate = 22050
    samples = (0.5 * np.sin(np.linspace(0, 200 * np.pi, rate))).astype(np.float32)
    with_pyav = encode_audio(samples, rate, "pcm")
    monkeypatch.setattr(audio, "has_pyav", lambda: False)
    plain = np.frombuffer(encode_audio(samples, rate, "pcm"), "<i2").astype(np.int32)
    assert np.abs(plain - np.frombuffer(with_pyav, "<i2")).max() <= 1
    streamed = encoder_for("pcm", rate, streaming=True)
    assert streamed.encode(samples) + streamed.finish() == plain.astype("<i2").tobytes()
    wav, wav_rate = soundfile.read(io.BytesIO(encode_audio(samples, rate, "wav")),
                                   dtype="int16")
    assert wav_rate == rate and np.array_equal(wav.astype(np.int32), plain)
    for refused in (lambda: encoder_for("mp3", rate),
                    lambda: encoder_for("wav", rate, streaming=True),
                    lambda: encoder_for("wav", rate, 16000)):
        with pytest.raises(AudioFormatError, match=r"tritontts-client\[formats\]"):
            refused()


def _oldest_python() -> str | None:
    """An interpreter of the client's lowest Python, if this machine has one."""
    version = "{}.{}".format(*_lower_bound())
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = [shutil.which(f"python{version}"),
                  *sorted(glob.glob(f"{pyenv}/versions/{version}.*/bin/python{version}"))]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys, venv; print(sys.version_info[:2])"],
                               capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.strip() == str(_lower_bound()):
            return candidate
    return None


@pytest.mark.e2e
@pytest.mark.parametrize("python", ["lowest", "this"])
def test_the_client_alone(python: str, server: TritonServer, tmp_path: Path) -> None:
    interpreter = this_python() if python == "this" else _oldest_python()
    if interpreter is None:
        pytest.skip("no interpreter of the client's lowest Python (requires-python) here")
    work = tmp_path / "work"
    copy_sources(CLIENT, work / "client")
    venv = fresh_venv(tmp_path / "venv", interpreter)
    pip_install(venv, "./client", cwd=work)
    listed = run([venv / "bin" / "python", "-m", "pip", "list", "--format=json"], cwd=work,
                 venv=venv)
    names = {p["name"].lower().replace("_", "-") for p in json.loads(listed.stdout)}
    assert "tritontts-client" in names and not names & SERVER_STACK, sorted(names)
    # From the shell: a wav file, no PyAV needed.
    run([venv / "bin" / "tritontts-speak", TEXT, "-o", "speech.wav", "--url", server.grpc_url],
        cwd=work, venv=venv)
    speech, rate = soundfile.read(work / "speech.wav", dtype="float32")
    assert_speech(speech, rate, TEXT)
    # From code, over HTTP.
    code = ("from tritontts_client import TTSClient\n"
            f"with TTSClient({server.http_url!r}, 'http') as client:\n"
            f"    s = client.synthesize({TEXT!r})\n"
            "print(s.sample_rate, s.audio.size)\n")
    rate_seen, samples = map(int, run([venv / "bin" / "python", "-c", code], cwd=work,
                                      venv=venv).stdout.split())
    low, high = SECONDS_PER_WORD
    assert rate_seen == rate
    assert low * len(TEXT.split()) <= samples / rate <= high * len(TEXT.split())
