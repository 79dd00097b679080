"""`tritontts speak`: synthesize text with a running server into an audio file or stdout."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from tritontts.client.client import DEFAULT_URLS, AudioChunk, Synthesis, TLSConfig, TTSClient
from tritontts.client.errors import TTSError

HELP = "speak TEXT with a running tritontts server into an audio file (or raw PCM on stdout)"
API_KEY_ENV = "TRITONTTS_API_KEY"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Send TEXT to the `tts` model of a running server and write the audio. "
        "A file is written by its extension (.wav, .flac, .ogg); `-o -` writes raw "
        "signed 16-bit little-endian mono PCM to standard output, e.g. "
        "`tritontts speak 'Hello' -o - | aplay -f S16_LE -r 22050 -c 1`.")
    parser.add_argument("text", help="the text to speak; `-` reads it from standard input")
    parser.add_argument("-o", "--output", default="speech.wav",
                        help="output file, or `-` for raw PCM on stdout (default: speech.wav)")
    parser.add_argument("--protocol", choices=("grpc", "http"), default="grpc")
    parser.add_argument("--url", default=None,
                        help=f"HOST:PORT of the server (default: {DEFAULT_URLS['grpc']} for "
                             f"grpc, {DEFAULT_URLS['http']} for http)")
    parser.add_argument("--model", default="tts", help="model to call (default: tts)")
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
                        help=f"send the `tritontts-api-key` header (default: ${API_KEY_ENV})")


def write_audio(synthesis: Synthesis, output: str) -> None:
    if output == "-":
        sys.stdout.buffer.write(synthesis.pcm16())
        sys.stdout.buffer.flush()
        return
    import soundfile

    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), synthesis.audio, synthesis.sample_rate, subtype="PCM_16")


def write_stream(chunks: Iterator[AudioChunk], output: str) -> tuple[float, int]:
    """Write chunks as they arrive; returns (seconds written, sample rate)."""
    seconds, rate = 0.0, 0
    sink = None
    try:
        for chunk in chunks:
            rate = chunk.sample_rate
            if output == "-":
                sys.stdout.buffer.write(chunk.pcm16())
                sys.stdout.buffer.flush()
            else:
                if sink is None:
                    import soundfile

                    Path(output).parent.mkdir(parents=True, exist_ok=True)
                    sink = soundfile.SoundFile(output, "w", samplerate=rate, channels=1,
                                               subtype="PCM_16")
                sink.write(chunk.audio)
                sink.flush()
            seconds += chunk.duration_s
    finally:
        if sink is not None:
            sink.close()
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
    except ValueError as exc:
        print(f"tritontts speak: {exc}", file=sys.stderr)
        return 2
    try:
        with TTSClient(args.url, args.protocol, args.model, deadline_s=args.timeout, tls=tls,
                       api_key=args.api_key) as client:
            if args.wait_ready > 0:
                client.wait_until_ready(args.wait_ready)
            if args.stream:
                seconds, rate = write_stream(client.stream(text, **options), args.output)
            else:
                synthesis = client.synthesize(text, **options, cache=args.cache)
                write_audio(synthesis, args.output)
                seconds, rate = synthesis.duration_s, synthesis.sample_rate
    except (TTSError, ValueError) as exc:
        print(f"tritontts speak: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    where = "stdout" if args.output == "-" else args.output
    print(f"wrote {seconds:.2f} s of audio at {rate} Hz to {where}", file=sys.stderr)
    return 0
