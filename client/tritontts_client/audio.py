"""Encoding synthesized audio into the common file and stream formats, through FFmpeg (PyAV).

One encoder serves the CLI (`tritontts speak -o speech.mp3`), the HTTP gateway and the jobs:
wav, raw PCM (s16le), flac, mp3, opus (in Ogg), aac (ADTS), and the phone line's G.711 (μ-law
and A-law, 8 kHz), raw as telephony media streams carry it or in a WAV file; resampled to a
requested rate by FFmpeg's resampler (through PyAV). It is incremental: `AudioEncoder.encode`
takes a stream's chunks one by one and returns the bytes ready so far, so a streamed response
can leave with the first chunk.

Imports numpy at import time and PyAV only when an encoder is made (clients that never encode
do not need it). PyAV is the client's `formats` extra: without it, `encoder_for` still writes
wav files and raw PCM at the voice's own rate (through the standard library's `wave`), and
names the extra for everything else.
"""

from __future__ import annotations

import importlib.util
import io
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class AudioFormatError(ValueError):
    """An unknown format, or a sample rate the format cannot carry."""


@dataclass(frozen=True)
class AudioFormat:
    name: str  # as OpenAI's `response_format` and `tritontts speak --format` spell it
    container: str  # FFmpeg muxer
    codec: str  # FFmpeg encoder
    media_type: str
    extensions: tuple[str, ...]
    # Rates the encoder accepts (None: any) and the rate used when none is asked for (None:
    # the voice's own).
    rates: tuple[int, ...] | None = None
    default_rate: int | None = None
    bit_rate: int | None = None
    # Muxer options that make a stream's bytes leave as soon as a packet is ready.
    stream_options: dict[str, str] = field(default_factory=dict)

    def output_rate(self, input_rate: int, requested: int | None = None) -> int:
        rate = requested or self.default_rate or input_rate
        if self.rates is not None and rate not in self.rates:
            if requested is None:  # the voice's own rate does not fit: take the nearest above
                return min((r for r in self.rates if r >= rate), default=max(self.rates))
            allowed = ", ".join(str(r) for r in self.rates)
            raise AudioFormatError(f"{self.name} cannot carry {rate} Hz; use one of {allowed}")
        if not 8000 <= rate <= 192000:
            raise AudioFormatError(f"sample rate must be 8000-192000 Hz, got {rate}")
        return rate


_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200,
              96000)
_FLUSH = {"flush_packets": "1"}
# G.711 is defined at 8 kHz only (ITU-T G.711; RTP's PCMU/PCMA, RFC 3551).
_G711: dict[str, Any] = {"rates": (8000,), "default_rate": 8000, "stream_options": _FLUSH}

# The rates a request may ask for on the HTTP routes (`sample_rate`): telephony's narrow and
# wide band, OpenAI's pcm rate and full band. A format may carry fewer (G.711: 8 kHz only).
REQUEST_RATES = (8000, 16000, 24000, 48000)

FORMATS: dict[str, AudioFormat] = {f.name: f for f in (
    AudioFormat("wav", "wav", "pcm_s16le", "audio/wav", (".wav",), stream_options=_FLUSH),
    AudioFormat("pcm", "s16le", "pcm_s16le", "audio/pcm", (".pcm", ".raw"),
                stream_options=_FLUSH),
    AudioFormat("flac", "flac", "flac", "audio/flac", (".flac",), stream_options=_FLUSH),
    AudioFormat("mp3", "mp3", "libmp3lame", "audio/mpeg", (".mp3",), rates=_MP3_RATES,
                bit_rate=64000, stream_options=_FLUSH),
    # Opus decoders always play at 48 kHz (a lower encoding rate only narrows the band and
    # is not what a decoder reports back), so Ogg Opus is written at 48 kHz.
    AudioFormat("opus", "ogg", "libopus", "audio/ogg", (".opus", ".ogg"),
                rates=(48000,), default_rate=48000, bit_rate=32000,
                # Ogg pages of ~100 ms instead of 1 s, so a stream's pages leave promptly.
                stream_options={**_FLUSH, "page_duration": "100000"}),
    AudioFormat("aac", "adts", "aac", "audio/aac", (".aac",), rates=_AAC_RATES,
                bit_rate=64000, stream_options=_FLUSH),
    # Headerless G.711 bytes, one per sample, as Twilio media streams and RTP carry them;
    # the media types are RTP's (RFC 4856). The extensions are FFmpeg's and SoX's.
    AudioFormat("mulaw", "mulaw", "pcm_mulaw", "audio/PCMU", (".ul", ".ulaw", ".mulaw"),
                **_G711),
    AudioFormat("alaw", "alaw", "pcm_alaw", "audio/PCMA", (".al", ".alaw"), **_G711),
    # The same bytes in a WAV file (format tags 7 and 6), which players and IVR systems open;
    # `.wav` alone means PCM, so these are asked for by name.
    AudioFormat("mulaw_wav", "wav", "pcm_mulaw", "audio/wav", (".wav",), **_G711),
    AudioFormat("alaw_wav", "wav", "pcm_alaw", "audio/wav", (".wav",), **_G711),
)}


def audio_format(name: str) -> AudioFormat:
    try:
        return FORMATS[name.lower()]
    except KeyError:
        raise AudioFormatError(f"unknown audio format {name!r}; known: "
                               f"{', '.join(FORMATS)}") from None


def format_for_path(path: str | Path) -> AudioFormat:
    suffix = Path(path).suffix.lower()
    for fmt in FORMATS.values():  # the first format of an extension wins: .wav is PCM
        if suffix in fmt.extensions:
            return fmt
    known = ", ".join(dict.fromkeys(e for f in FORMATS.values() for e in f.extensions))
    raise AudioFormatError(f"cannot tell the audio format of {str(path)!r} from its extension "
                           f"(known: {known}); name one with --format")


class _StreamSink:
    """A write-only file for FFmpeg: what it writes is collected until taken. It has no seek,
    so muxers write stream headers (wav's size fields stay 'unknown')."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def write(self, data: bytes) -> int:
        self._pending += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self._pending)
        self._pending.clear()
        return data


class AudioEncoder:
    """Float32 mono samples in, encoded bytes out, chunk by chunk.

    `streaming=False` writes into a seekable buffer and returns everything at `finish()`, so
    that files get complete headers (wav sizes, mp3's Xing frame); `streaming=True` returns
    the bytes each chunk makes ready.
    """

    def __init__(self, fmt: AudioFormat | str, input_rate: int,
                 output_rate: int | None = None, *, streaming: bool = False) -> None:
        import av

        self.format = audio_format(fmt) if isinstance(fmt, str) else fmt
        self.input_rate = int(input_rate)
        self.output_rate = self.format.output_rate(self.input_rate, output_rate)
        self.streaming = streaming
        self._sink: Any = _StreamSink() if streaming else io.BytesIO()
        options = self.format.stream_options if streaming else {}
        self._container = av.open(self._sink, mode="w", format=self.format.container,
                                  options=dict(options))
        self._stream = self._container.add_stream(self.format.codec, rate=self.output_rate,
                                                  layout="mono")
        if self.format.bit_rate:
            self._stream.bit_rate = self.format.bit_rate
        self._samples_in = 0
        self._finished = False

    def encode(self, samples: np.ndarray) -> bytes:
        """Encode the next piece of audio; returns the bytes ready now (streaming) or b""."""
        import av

        if self._finished:
            raise RuntimeError("the encoder has finished")
        audio = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1), -1.0, 1.0)
        if audio.size:
            frame = av.AudioFrame.from_ndarray(audio[np.newaxis, :], format="flt",
                                               layout="mono")
            frame.sample_rate = self.input_rate
            frame.pts = self._samples_in
            self._samples_in += audio.size
            # PyAV resamples to the encoder's format and rate and cuts codec-sized frames.
            self._container.mux(self._stream.encode(frame))
        return self._take()

    def finish(self) -> bytes:
        """Flush the encoder and close the container; returns the remaining bytes."""
        if self._finished:
            return b""
        self._finished = True
        self._container.mux(self._stream.encode(None))
        self._container.close()
        if self.streaming:
            return self._take()
        return self._sink.getvalue()

    def _take(self) -> bytes:
        return self._sink.take() if self.streaming else b""


class Encoder(Protocol):
    def encode(self, samples: np.ndarray) -> bytes: ...

    def finish(self) -> bytes: ...


FORMATS_EXTRA = "tritontts-client[formats]"


def _int16(samples: np.ndarray) -> bytes:
    audio = np.clip(np.asarray(samples, dtype=np.float32).reshape(-1), -1.0, 1.0)
    return (audio * 32767.0).round().astype("<i2").tobytes()


class PCMEncoder:
    """Raw s16le PCM (streamed or whole) and whole wav files at the voice's own rate, without
    PyAV: what a client without the `formats` extra can write."""

    def __init__(self, fmt: AudioFormat, input_rate: int, *, streaming: bool = False) -> None:
        self.format, self.input_rate, self.streaming = fmt, int(input_rate), streaming
        self._pcm = bytearray()
        self._finished = False

    def encode(self, samples: np.ndarray) -> bytes:
        if self._finished:
            raise RuntimeError("the encoder has finished")
        data = _int16(samples)
        if self.streaming:  # only pcm streams (check_encodable): bytes leave at once
            return data
        self._pcm += data  # a whole file: returned by finish(), as AudioEncoder does
        return b""

    def finish(self) -> bytes:
        if self._finished or self.streaming:
            self._finished = True
            return b""
        self._finished = True
        if self.format.name == "pcm":
            return bytes(self._pcm)
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.input_rate)
            wav.writeframes(bytes(self._pcm))
        return buffer.getvalue()


def has_pyav() -> bool:
    return importlib.util.find_spec("av") is not None


def encoder_for(fmt: AudioFormat | str, input_rate: int, output_rate: int | None = None, *,
                streaming: bool = False) -> Encoder:
    """PyAV's encoder where PyAV is installed; otherwise `PCMEncoder` for what it can write,
    and an error naming the extra for the rest."""
    fmt = audio_format(fmt) if isinstance(fmt, str) else fmt
    if has_pyav():
        return AudioEncoder(fmt, input_rate, output_rate, streaming=streaming)
    check_encodable(fmt, streaming=streaming)
    rate = fmt.output_rate(int(input_rate), output_rate)
    if rate != int(input_rate):
        _needs_pyav(f"{fmt.name} at {rate} Hz (the voice speaks at {input_rate} Hz)")
    return PCMEncoder(fmt, input_rate, streaming=streaming)


def check_encodable(fmt: AudioFormat, *, streaming: bool = False) -> None:
    """Refuse, before any work, what cannot be written with the packages installed (a rate
    the voice does not speak at is only known with its first audio)."""
    if has_pyav() or fmt.name == "pcm" or (fmt.name == "wav" and not streaming):
        return
    _needs_pyav(f"{fmt.name} as a stream" if fmt.name == "wav" else fmt.name)


def _needs_pyav(what: str) -> None:
    raise AudioFormatError(f"writing {what} needs PyAV: pip install '{FORMATS_EXTRA}' "
                           "(without it: wav files and raw pcm at the voice's own rate)")


def encode_audio(samples: np.ndarray, input_rate: int, fmt: AudioFormat | str,
                 output_rate: int | None = None) -> bytes:
    """A whole utterance as one file's bytes."""
    encoder = encoder_for(fmt, input_rate, output_rate)
    encoder.encode(samples)
    return encoder.finish()


def save_audio(path: str | Path, samples: np.ndarray, input_rate: int,
               fmt: AudioFormat | str | None = None, output_rate: int | None = None) -> Path:
    """Write a whole utterance to a file, in `fmt` or the format of the path's extension."""
    path = Path(path)
    chosen = format_for_path(path) if fmt is None else fmt
    data = encode_audio(samples, input_rate, chosen, output_rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
