"""Phone-line audio from the shared encoder: G.711 μ-law and A-law at 8 kHz, raw and in WAV,
and raw PCM at the rates the routes offer. Every output is decoded by FFmpeg (PyAV) and held
against the source: its length, and its waveform against the ideal resample of the source
(a sum of tones below 4 kHz, whose ideal 8 kHz resample is the same tones at 8 kHz)."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from tritontts_client import Synthesis
from tritontts_client.audio import (
    FORMATS,
    REQUEST_RATES,
    AudioEncoder,
    AudioFormatError,
    encode_audio,
    format_for_path,
    save_audio,
)

RATE = 22050  # the bundled voice's rate
SECONDS = 2.0
TONES = ((0.25, 440.0), (0.15, 1234.0), (0.1, 3000.0))  # telephone band: 300-3400 Hz


def tones(rate: int, seconds: float = SECONDS) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return sum(a * np.sin(2 * np.pi * f * t) for a, f in TONES).astype(np.float32)


def snr_db(decoded: np.ndarray, rate: int) -> float:
    reference = tones(rate, decoded.size / rate)[:decoded.size]
    return float(10 * np.log10(np.sum(reference ** 2) / np.sum((decoded - reference) ** 2)))


def decode(data: bytes, raw_format: str | None = None) -> tuple[np.ndarray, int, str]:
    """(samples in [-1, 1], rate, codec) as FFmpeg reads the bytes; raw G.711 has no header,
    so its demuxer is told the phone line's rate."""
    kwargs = ({"format": raw_format, "options": {"sample_rate": "8000"}}
              if raw_format else {})
    with av.open(io.BytesIO(data), **kwargs) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        rate, codec = stream.codec_context.sample_rate, stream.codec_context.name
        assert stream.codec_context.channels == 1
    samples = np.concatenate(frames)
    if np.issubdtype(samples.dtype, np.integer):
        return samples.astype(np.float32) / 32768.0, rate, codec
    return samples.astype(np.float32), rate, codec


G711 = [("mulaw", "mulaw", "pcm_mulaw"), ("alaw", "alaw", "pcm_alaw"),
        ("mulaw_wav", None, "pcm_mulaw"), ("alaw_wav", None, "pcm_alaw")]


@pytest.mark.parametrize("name,raw_format,codec", G711, ids=[g[0] for g in G711])
@pytest.mark.parametrize("streaming", [False, True], ids=["file", "stream"])
def test_g711_decodes_to_8khz_of_the_source_length_and_waveform(
        name: str, raw_format: str | None, codec: str, streaming: bool) -> None:
    encoder = AudioEncoder(name, RATE, streaming=streaming)
    source = tones(RATE)
    pieces = [encoder.encode(source[i:i + 2205]) for i in range(0, source.size, 2205)]
    pieces.append(encoder.finish())
    if streaming:  # a phone call's bytes leave as they are made, 100 ms chunks in, 100 ms out
        assert sum(1 for p in pieces[:-1] if p) >= 15
    decoded, rate, got_codec = decode(b"".join(pieces), raw_format)
    assert (rate, got_codec) == (8000, codec)
    assert decoded.size == round(SECONDS * 8000)  # every source second is 8000 bytes
    # Measured 37.5 dB (μ-law) and 37.1 dB (A-law): 8-bit companding of a resample that
    # itself scores 47 dB as 16-bit PCM.
    assert snr_db(decoded, rate) > 33.0


@pytest.mark.parametrize("law", ["mulaw", "alaw"])
def test_the_wav_holds_the_raw_bytes(law: str) -> None:
    source = tones(RATE, 0.5)
    raw = encode_audio(source, RATE, law)
    wav = encode_audio(source, RATE, f"{law}_wav")
    assert wav.startswith(b"RIFF") and wav[8:12] == b"WAVE"
    assert int.from_bytes(wav[20:22], "little") == (7 if law == "mulaw" else 6)  # format tag
    assert wav.endswith(raw) and len(raw) == 4000


def test_the_two_laws_are_not_interchangeable() -> None:
    """Read with the wrong law, the bytes are noise: each format really is its own law."""
    mulaw = encode_audio(tones(RATE), RATE, "mulaw")
    decoded, rate, _ = decode(mulaw, "alaw")
    assert snr_db(decoded, rate) < 0


@pytest.mark.parametrize("rate", REQUEST_RATES)
def test_pcm_at_each_rate(rate: int) -> None:
    data = encode_audio(tones(RATE), RATE, "pcm", rate)
    decoded = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    assert decoded.size == round(SECONDS * rate)
    assert snr_db(decoded, rate) > 40.0  # measured 47 dB at 8 kHz


def test_g711_carries_8khz_only() -> None:
    for name in ("mulaw", "alaw", "mulaw_wav", "alaw_wav"):
        assert FORMATS[name].output_rate(RATE) == 8000
        with pytest.raises(AudioFormatError, match=f"{name} cannot carry 16000 Hz; use one of "
                                                   "8000"):
            AudioEncoder(name, RATE, 16000)


def test_names_extensions_and_media_types() -> None:
    assert format_for_path("call.ul").name == "mulaw"
    assert format_for_path("call.ULAW").name == "mulaw"
    assert format_for_path("call.al").name == "alaw"
    assert format_for_path("call.wav").name == "wav"  # a plain .wav stays 16-bit PCM
    assert (FORMATS["mulaw"].media_type, FORMATS["alaw"].media_type) == ("audio/PCMU",
                                                                         "audio/PCMA")
    assert FORMATS["mulaw_wav"].media_type == "audio/wav"


def test_the_client_writes_phone_files(tmp_path) -> None:
    synthesis = Synthesis(tones(RATE), RATE)
    by_extension = synthesis.save(tmp_path / "call.ul")
    by_name = synthesis.save(tmp_path / "call.wav", format="alaw_wav")
    decoded, rate, codec = decode(by_extension.read_bytes(), "mulaw")
    assert (rate, codec, decoded.size) == (8000, "pcm_mulaw", 16000)
    decoded, rate, codec = decode(by_name.read_bytes())
    assert (rate, codec, decoded.size) == (8000, "pcm_alaw", 16000)
    pcm = save_audio(tmp_path / "wide.pcm", synthesis.audio, RATE, output_rate=16000)
    assert pcm.stat().st_size == 2 * 32000
    with pytest.raises(AudioFormatError, match="cannot carry 24000 Hz"):
        synthesis.save(tmp_path / "bad.al", sample_rate=24000)
