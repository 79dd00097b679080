"""The HTTP gateway's cost: overhead per request against calling Triton directly, and the
encoding cost of each audio format per second of audio.

Overhead: each held-out sentence is spoken through Triton's stream model directly (gRPC, all
chunks read) and through the gateway (POST /v1/audio/speech, pcm, the whole body read), in
alternation, with deterministic rhythm (noise_w 0) so that both do the same work. Reported:
p50/p95 of both and of the per-pair difference. Encoding: the audio of one sentence encoded
`--repeats` times per format; milliseconds of CPU time per second of audio.

    python benchmarks/gateway.py                 # starts its own Triton and gateway
    python benchmarks/gateway.py --rounds 5
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack

import httpx
import numpy as np

from tritontts.serving.server import free_port
from tritontts_client import TTSClient
from tritontts_client.audio import FORMATS, encode_audio
from tritontts_client.contract import READY_ROUTE, SPEECH_ROUTE

from common import SENTENCES, percentile, save, start_server


def start_gateway(stack: ExitStack, triton_url: str, *extra: str) -> str:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tritontts.cli", "gateway", "--triton-url", triton_url,
         "--port", str(port), "--noise-w", "0", "--rate", "1000/second",
         "--characters", "10000000/minute", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        process.terminate()
        process.wait(15)

    stack.callback(stop)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url + READY_ROUTE, timeout=2):
                return url
        except (urllib.error.URLError, ConnectionError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start") from None
            time.sleep(0.2)


def direct(client: TTSClient, text: str) -> float:
    started = time.perf_counter()
    samples = sum(chunk.audio.size for chunk in client.stream(text, noise_w=0.0))
    assert samples > 0
    return time.perf_counter() - started


def through_gateway(http: httpx.Client, text: str) -> float:
    started = time.perf_counter()
    response = http.post(SPEECH_ROUTE, json={"model": "tts-1", "voice": "alloy",
                                                    "input": text, "response_format": "pcm"})
    response.raise_for_status()
    assert len(response.content) > 0
    return time.perf_counter() - started


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(values, 50) * 1e3, "p95_ms": percentile(values, 95) * 1e3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the sentences")
    parser.add_argument("--repeats", type=int, default=10, help="encodings per format")
    args = parser.parse_args()

    with ExitStack() as stack:
        triton = start_server(stack)
        gateway = start_gateway(stack, triton.grpc_url)
        client = stack.enter_context(TTSClient(triton.grpc_url))
        http = stack.enter_context(httpx.Client(base_url=gateway, timeout=120))
        direct(client, "Warm up.")
        through_gateway(http, "Warm up.")
        plain, gated = [], []
        for _ in range(args.rounds):
            for text in SENTENCES:
                plain.append(direct(client, text))
                gated.append(through_gateway(http, text))
        synthesis = client.synthesize(SENTENCES[0], noise_w=0.0)

    differences = [g - p for g, p in zip(gated, plain, strict=True)]
    overhead = {"requests": len(plain), "direct": summary(plain), "gateway": summary(gated),
                "difference": summary(differences)}
    print(f"{len(plain)} requests   p50 ms   p95 ms")
    for name in ("direct", "gateway", "difference"):
        row = overhead[name]
        print(f"{name:<12} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f}")

    seconds = synthesis.duration_s
    encoding: dict[str, dict[str, float]] = {}
    print(f"\nencoding {seconds:.2f} s of audio ({synthesis.sample_rate} Hz), "
          f"{args.repeats} times each")
    print("format   ms per audio second   bytes per audio second")
    for name in FORMATS:
        times, size = [], 0
        for _ in range(args.repeats):
            started = time.process_time()
            size = len(encode_audio(synthesis.audio, synthesis.sample_rate, name))
            times.append(time.process_time() - started)
        per_second = float(np.median(times)) / seconds * 1e3
        encoding[name] = {"ms_per_audio_second": per_second, "bytes_per_audio_second":
                          size / seconds}
        print(f"{name:<8} {per_second:>20.2f} {size / seconds:>24.0f}")
    save("gateway.json", {"overhead": overhead, "encoding": encoding,
                          "audio_seconds": seconds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
