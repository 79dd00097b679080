"""`tritontts-speak` (and `tritontts speak`, the same code): synthesize text with a running
server into an audio file or stdout. Needs only this distribution; compressed formats and
resampling need its `formats` extra (PyAV)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from tritontts_client.audio import (
    FORMATS,
    AudioFormat,
    Encoder,
    audio_format,
    check_encodable,
    encoder_for,
    format_for_path,
    save_audio,
)
from tritontts_client.client import DEFAULT_URLS, AudioChunk, Synthesis, TLSConfig, TTSClient
from tritontts_client.contract import API_KEY_ENV, API_KEY_HEADER, TTS_MODEL
from tritontts_client.errors import TTSError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(program=parser.prog)  # for messages: tritontts-speak or tritontts speak
    parser.description = (
        "Send TEXT to the `tts` model of a running server and write the audio. "
        "A file is encoded by its extension (.wav, .flac, .mp3, .opus/.ogg, .aac, .pcm, and "
        "G.711 for phone lines: .ul μ-law, .al A-law, 8 kHz) or by --format; `-o -` writes "
        "raw signed 16-bit little-endian mono PCM to standard output (or --format), e.g. "
        "`tritontts-speak 'Hello' -o - | aplay -f S16_LE -r 22050 -c 1`.")
    parser.add_argument("text", help="the text to speak; `-` reads it from standard input")
    parser.add_argument("-o", "--output", default="speech.wav",
                        help="output file, or `-` for raw PCM on stdout (default: speech.wav)")
    parser.add_argument("--format", default=None, metavar="NAME",
                        help=f"audio format: {', '.join(FORMATS)} (default: from the "
                             "output's extension; pcm for `-o -`); mulaw_wav and alaw_wav "
                             "are G.711 in a .wav file")
    parser.add_argument("--sample-rate", type=int, default=None, metavar="HZ",
                        help="resample to HZ (default: the voice's rate; 48000 for opus, "
                             "8000 for G.711, the only rates those carry)")
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    parser.add_argument("--url", default=None,
                        help=f"HOST:PORT of the server (default: {DEFAULT_URLS['grpc']} for "
                             f"grpc, {DEFAULT_URLS['http']} for http)")
    parser.add_argument("--model", default=TTS_MODEL, help=f"model to call (default: {TTS_MODEL})")
    parser.add_argument("--speed", type=float, default=None, help="speaking rate, 1.0 = normal")
    parser.add_argument("--noise-scale", type=float, default=None,
                        help="voice variation (default: the voice's own, 0 = deterministic)")
    parser.add_argument("--noise-w", type=float, default=None,
                        help="rhythm variation (default: the voice's own, 0 = deterministic)")
    parser.add_argument("--voice", default=None,
                        help="voice to speak with, as <voice> or <voice>/<speaker> (a bare "
                             "<speaker>: of the default voice); default: the server's default "
                             "voice, first speaker. An unknown name's error lists those served")
    parser.add_argument("--description", default=None, metavar="TEXT",
                        help="a voice described in words, e.g. 'Female, 30s, warm, calm "
                             "pacing': speaks with Maya1 (emotion tags such as <laugh> inline "
                             "in the text; an unknown tag's error lists the known ones)")
    parser.add_argument("--stream", action="store_true",
                        help="use the streaming model (gRPC): audio is written as each chunk "
                             "arrives, so `-o - | aplay ...` plays while it synthesizes")
    parser.add_argument("--wait-ready", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to SECONDS for the server to become ready first")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                        help="give up on the request after SECONDS, retries of refusals "
                             "included (default: 120)")
    parser.add_argument("--cache", action="store_true",
                        help="use the response-cached model: a repeated request returns the "
                             "same audio at once (even with the voice's random noise scales)")
    tls = parser.add_argument_group("TLS (gRPC)")
    tls.add_argument("--tls-ca", type=Path, metavar="PEM",
                     help="use TLS, trusting the CA in PEM (the server's certificate signer)")
    tls.add_argument("--tls-cert", type=Path, metavar="PEM",
                     help="this client's certificate, for servers that ask for mutual TLS")
    tls.add_argument("--tls-key", type=Path, metavar="PEM", help="private key of --tls-cert")
    parser.add_argument("--api-key", default=os.environ.get(API_KEY_ENV), metavar="VALUE",
                        help=f"send the `{API_KEY_HEADER}` header (default: ${API_KEY_ENV})")


def output_format(args: argparse.Namespace) -> AudioFormat:
    """The format asked for by --format, else by the output file's extension."""
    if args.format:
        return audio_format(args.format)
    return FORMATS["pcm"] if args.output == "-" else format_for_path(args.output)


class AudioWriter:
    """Encodes audio into the output file (or stdout) as it arrives."""

    def __init__(self, output: str, fmt: AudioFormat, sample_rate: int | None) -> None:
        self.output, self.format, self.sample_rate = output, fmt, sample_rate
        self._encoder: Encoder | None = None
        self._sink: BinaryIO | None = None

    def write(self, audio: np.ndarray, input_rate: int) -> None:
        if self._encoder is None:
            # Made on the first audio: only then is the voice's rate known.
            self._encoder = encoder_for(self.format, input_rate, self.sample_rate,
                                        streaming=True)
            if self.output == "-":
                self._sink = sys.stdout.buffer
            else:
                Path(self.output).parent.mkdir(parents=True, exist_ok=True)
                self._sink = open(self.output, "wb")  # noqa: SIM115 - closed in close()
        self._put(self._encoder.encode(audio))

    def close(self) -> None:
        if self._encoder is not None:
            self._put(self._encoder.finish())
        if self._sink is not None and self._sink is not sys.stdout.buffer:
            self._sink.close()

    def _put(self, data: bytes) -> None:
        assert self._sink is not None
        if data:
            self._sink.write(data)
            self._sink.flush()


def write_audio(synthesis: Synthesis, output: str, fmt: AudioFormat,
                sample_rate: int | None = None) -> None:
    if output == "-":
        writer = AudioWriter(output, fmt, sample_rate)
        writer.write(synthesis.audio, synthesis.sample_rate)
        writer.close()
        return
    # A whole file: encoded in memory so that headers carry the final sizes.
    save_audio(output, synthesis.audio, synthesis.sample_rate, fmt, sample_rate)


def write_stream(chunks: Iterator[AudioChunk], output: str, fmt: AudioFormat,
                 sample_rate: int | None = None) -> tuple[float, int]:
    """Write chunks as they arrive; returns (seconds written, sample rate)."""
    seconds, rate = 0.0, 0
    writer = AudioWriter(output, fmt, sample_rate)
    try:
        for chunk in chunks:
            rate = chunk.sample_rate
            writer.write(chunk.audio, chunk.sample_rate)
            seconds += chunk.duration_s
    finally:
        writer.close()
    return seconds, rate


def _tls(args: argparse.Namespace) -> TLSConfig | None:
    if not (args.tls_ca or args.tls_cert or args.tls_key):
        return None
    return TLSConfig(root_certificates=args.tls_ca, private_key=args.tls_key,
                     certificate_chain=args.tls_cert)


def run(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    options = {"speed": args.speed, "noise_scale": args.noise_scale, "noise_w": args.noise_w,
               "voice": args.voice, "description": args.description}
    try:
        tls = _tls(args)
        fmt = output_format(args)
        if args.sample_rate is not None:
            fmt.output_rate(args.sample_rate, args.sample_rate)  # refused before any work
        check_encodable(fmt, streaming=args.stream or args.output == "-")
    except ValueError as exc:
        print(f"{args.program}: {exc}", file=sys.stderr)
        return 2
    try:
        with TTSClient(args.url, args.protocol, args.model, deadline_s=args.timeout, tls=tls,
                       api_key=args.api_key) as client:
            if args.wait_ready > 0:
                client.wait_until_ready(args.wait_ready)
            if args.stream:
                seconds, rate = write_stream(client.stream(text, **options), args.output, fmt,
                                             args.sample_rate)
            else:
                synthesis = client.synthesize(text, **options, cache=args.cache)
                write_audio(synthesis, args.output, fmt, args.sample_rate)
                seconds, rate = synthesis.duration_s, synthesis.sample_rate
    except (TTSError, ValueError) as exc:
        print(f"{args.program}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    where = "stdout" if args.output == "-" else args.output
    rate = fmt.output_rate(rate, args.sample_rate) if rate else rate
    print(f"wrote {seconds:.2f} s of {fmt.name} audio at {rate} Hz to {where}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The `tritontts-speak` console script of the client distribution."""
    parser = argparse.ArgumentParser(prog="tritontts-speak")
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
