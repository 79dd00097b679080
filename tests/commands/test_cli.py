"""`tritontts` commands as people run them, against the test server."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from tritontts.serving.server import ServerOptions, TritonServer, free_port

from helpers import assert_speech

pytestmark = pytest.mark.e2e

TEXT = "The command line writes what the server speaks."


def tritontts(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "tritontts.cli", *args], input=stdin,
                          capture_output=True, timeout=300, check=False)


@pytest.mark.parametrize("command", ["serve", "speak", "export", "repository", "gateway"])
def test_help(command: str) -> None:
    result = tritontts(command, "--help")
    assert result.returncode == 0
    assert b"usage: tritontts " + command.encode() in result.stdout


def test_speak_to_wav(server: TritonServer, tmp_path: Path) -> None:
    out = tmp_path / "nested" / "speech.wav"
    result = tritontts("speak", TEXT, "-o", str(out), "--url", server.grpc_url)
    assert result.returncode == 0, result.stderr.decode()
    info = soundfile.info(str(out))
    assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
    audio, rate = soundfile.read(str(out), dtype="float32")
    assert_speech(audio, rate, TEXT)


def test_speak_stdin_to_raw_pcm_over_http(server: TritonServer) -> None:
    result = tritontts("speak", "-", "-o", "-", "--protocol", "http", "--url", server.http_url,
                       stdin=TEXT.encode())
    assert result.returncode == 0, result.stderr.decode()
    assert len(result.stdout) % 2 == 0
    audio = np.frombuffer(result.stdout, dtype="<i2").astype(np.float32) / 32767.0
    assert_speech(audio, 22050, TEXT)
    assert b"22050 Hz to stdout" in result.stderr


@pytest.mark.parametrize("name,rate", [("speech.mp3", 22050), ("speech.opus", 48000),
                                       ("speech.aac", 22050), ("speech.flac", 22050)])
def test_speak_encodes_by_extension(server: TritonServer, tmp_path: Path, name: str,
                                    rate: int) -> None:
    out = tmp_path / name
    result = tritontts("speak", TEXT, "-o", str(out), "--url", server.grpc_url)
    assert result.returncode == 0, result.stderr.decode()
    with av.open(str(out)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        assert (stream.codec_context.sample_rate, stream.codec_context.channels) == (rate, 1)
    assert 0.2 * len(TEXT.split()) <= samples / rate <= 0.8 * len(TEXT.split())


def test_speak_streams_a_format_to_stdout(server: TritonServer) -> None:
    result = tritontts("speak", TEXT, "-o", "-", "--format", "mp3", "--stream",
                       "--sample-rate", "16000", "--url", server.grpc_url)
    assert result.returncode == 0, result.stderr.decode()
    with av.open(io.BytesIO(result.stdout)) as container:
        assert container.streams.audio[0].codec_context.sample_rate == 16000
    assert b"of mp3 audio at 16000 Hz to stdout" in result.stderr


def test_speak_names_an_unknown_format_in_one_line(tmp_path: Path) -> None:
    # Refused before any server is asked (the port is closed).
    for args in (["-o", str(tmp_path / "speech.xyz")], ["--format", "vorbis"]):
        result = tritontts("speak", "Hi.", *args, "--url", "127.0.0.1:1")
        assert result.returncode == 2
        lines = result.stderr.decode().strip().splitlines()
        assert len(lines) == 1 and "format" in lines[0], lines


def test_speak_reports_refusals(server: TritonServer, tmp_path: Path) -> None:
    out = tmp_path / "never.wav"
    refused = tritontts("speak", "Hello.", "--speed", "100", "-o", str(out),
                        "--url", server.grpc_url)
    assert refused.returncode == 2
    assert b"InvalidRequestError" in refused.stderr and b"SPEED" in refused.stderr
    empty = tritontts("speak", "   ", "-o", str(out), "--url", server.grpc_url)
    assert empty.returncode == 2 and b"empty" in empty.stderr
    assert not out.exists()


def test_speak_without_server_says_so() -> None:
    result = tritontts("speak", "Hello.", "--url", f"127.0.0.1:{free_port()}", "-o", "-")
    assert result.returncode == 2
    assert b"ServerUnavailableError" in result.stderr


def test_serve_stops_cleanly_on_sigterm(repository: Path) -> None:
    ports = [str(free_port()) for _ in range(3)]
    process = subprocess.Popen(
        [sys.executable, "-m", "tritontts.cli", "serve", "--model-repository", str(repository),
         "--http-port", ports[0], "--grpc-port", ports[1], "--metrics-port", ports[2]],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    probe = TritonServer(ServerOptions(repository, http_port=int(ports[0])))
    try:
        deadline = time.monotonic() + 180
        while not probe.is_ready():
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "server never became ready"
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert not probe.is_ready()
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


# --- phone-line audio -------------------------------------------------------------------------

STILL = ("--noise-scale", "0", "--noise-w", "0")  # the same text gives the same audio


def test_speak_writes_g711_by_extension_and_by_name(server: TritonServer,
                                                   tmp_path: Path) -> None:
    """A `.ul` file is raw μ-law, `--format alaw_wav` a WAV of A-law: both 8 kHz, as long as
    the voice's own audio and close to it resampled."""
    from tritontts_client.audio import encode_audio

    wide, mulaw, alaw = tmp_path / "voice.wav", tmp_path / "call.ul", tmp_path / "call.wav"
    for out, extra in ((wide, ()), (mulaw, ()), (alaw, ("--format", "alaw_wav", "--stream"))):
        result = tritontts("speak", TEXT, "-o", str(out), "--url", server.grpc_url, *STILL,
                           *extra)
        assert result.returncode == 0, result.stderr.decode()
    assert b"of alaw_wav audio at 8000 Hz" in result.stderr
    voice, voice_rate = soundfile.read(str(wide), dtype="float32")
    reference = np.frombuffer(encode_audio(voice, voice_rate, "pcm", 8000), "<i2") / 32768.0
    for path, raw, codec in ((mulaw, {"format": "mulaw", "options": {"sample_rate": "8000"}},
                              "pcm_mulaw"), (alaw, {}, "pcm_alaw")):
        with av.open(str(path), **raw) as container:
            stream = container.streams.audio[0]
            audio = np.concatenate([f.to_ndarray().reshape(-1)
                                    for f in container.decode(stream)]) / 32768.0
            assert (stream.codec_context.sample_rate, stream.codec_context.name) == (8000,
                                                                                     codec)
        assert abs(audio.size - voice.size * 8000 / voice_rate) <= 2
        size = min(audio.size, reference.size)
        error = audio[:size] - reference[:size]
        assert 10 * np.log10(np.sum(reference[:size] ** 2) / np.sum(error ** 2)) > 30.0


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000])
def test_speak_streams_pcm_at_a_chosen_rate(server: TritonServer, rate: int) -> None:
    result = tritontts("speak", TEXT, "-o", "-", "--stream", "--sample-rate", str(rate),
                       "--url", server.grpc_url)
    assert result.returncode == 0, result.stderr.decode()
    audio = np.frombuffer(result.stdout, dtype="<i2").astype(np.float32) / 32767.0
    assert_speech(audio, rate, TEXT)
    assert f"of pcm audio at {rate} Hz to stdout".encode() in result.stderr


def test_speak_refuses_g711_at_another_rate_in_one_line(tmp_path: Path) -> None:
    # Refused before any server is asked (the port is closed).
    result = tritontts("speak", "Hi.", "-o", str(tmp_path / "call.al"), "--sample-rate",
                       "16000", "--url", "127.0.0.1:1")
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert lines == ["tritontts speak: alaw cannot carry 16000 Hz; use one of 8000"], lines
