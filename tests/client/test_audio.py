"""The audio encoder: every format decodes back to the rate, channels and length it was given,
streamed or whole, and bad requests get one clear error."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from tritontts_client.audio import (
    FORMATS,
    AudioEncoder,
    AudioFormatError,
    audio_format,
    encode_audio,
    format_for_path,
)

RATE = 22050


def tone(seconds: float = 2.0, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def decode(data: bytes, name: str, pcm_rate: int = RATE) -> tuple[np.ndarray, int, int]:
    """(mono samples, rate, channels) of encoded bytes, decoded by FFmpeg."""
    if name == "pcm":
        return np.frombuffer(data, "<i2").astype(np.float32) / 32767.0, pcm_rate, 1
    # Raw G.711 has no header: the demuxer is told what a phone line carries.
    raw = {"format": name, "options": {"sample_rate": "8000", "ch_layout": "mono"}} \
        if name in ("mulaw", "alaw") else {}
    with av.open(io.BytesIO(data), **raw) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray() for frame in container.decode(stream)]
        channels = stream.codec_context.channels
        rate = stream.codec_context.sample_rate
    samples = np.concatenate([f.reshape(channels, -1)[0] for f in frames]).astype(np.float32)
    if np.issubdtype(frames[0].dtype, np.integer):
        samples /= np.iinfo(frames[0].dtype).max
    return samples, rate, channels


@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("streaming", [False, True], ids=["file", "stream"])
def test_every_format_decodes_back(name: str, streaming: bool) -> None:
    audio = tone()
    encoder = AudioEncoder(name, RATE, streaming=streaming)
    pieces = [encoder.encode(audio[i:i + 2205]) for i in range(0, audio.size, 2205)]
    pieces.append(encoder.finish())
    data = b"".join(pieces)
    if streaming:
        assert sum(1 for p in pieces[:-1] if p) >= 5, "a stream's bytes must leave as it goes"
    decoded, rate, channels = decode(data, name)
    assert channels == 1
    assert rate == FORMATS[name].output_rate(RATE)  # opus: 48 kHz, G.711: 8 kHz
    duration = decoded.size / rate
    assert duration == pytest.approx(2.0, rel=0.05)
    # Still the tone: loud enough, and its spectrum peaks at 440 Hz.
    spectrum = np.abs(np.fft.rfft(decoded))
    assert np.fft.rfftfreq(decoded.size, 1 / rate)[spectrum.argmax()] == pytest.approx(440, abs=5)


def test_lossless_formats_keep_the_samples() -> None:
    audio = tone(0.5)
    for name in ("wav", "flac", "pcm"):
        decoded, _, _ = decode(encode_audio(audio, RATE, name), name)
        assert np.abs(decoded - audio).max() < 1e-3, name


@pytest.mark.parametrize("name,rate", [("wav", 16000), ("mp3", 44100), ("aac", 24000),
                                       ("opus", 48000), ("flac", 48000), ("pcm", 8000)])
def test_resampled_to_the_rate_asked(name: str, rate: int) -> None:
    decoded, got, _ = decode(encode_audio(tone(), RATE, name, output_rate=rate), name,
                             pcm_rate=rate)
    assert got == rate
    assert decoded.size / rate == pytest.approx(2.0, rel=0.05)


def test_format_from_extension_and_name() -> None:
    assert format_for_path("out/speech.MP3").name == "mp3"
    assert format_for_path("a.ogg").name == "opus"
    assert audio_format("AAC").media_type == "audio/aac"
    with pytest.raises(AudioFormatError, match=r"extension.*--format"):
        format_for_path("speech.xyz")
    with pytest.raises(AudioFormatError, match="unknown audio format 'ogg-vorbis'; known: wav"):
        audio_format("ogg-vorbis")


def test_rates_a_codec_cannot_carry_are_refused() -> None:
    with pytest.raises(AudioFormatError, match="opus cannot carry 22050 Hz"):
        AudioEncoder("opus", RATE, 22050)
    with pytest.raises(AudioFormatError, match="8000-192000"):
        AudioEncoder("wav", RATE, 1000)


def test_loud_input_is_clipped_not_wrapped() -> None:
    decoded, _, _ = decode(encode_audio(np.full(1000, 3.0, np.float32), RATE, "pcm"), "pcm")
    assert decoded.min() > 0.99
