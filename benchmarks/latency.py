"""Per-sentence latency: the direct baseline against the Triton `tts` ensemble over gRPC.

The baseline is the original voice graph in-process on ONNX Runtime, sentence by sentence as
Piper synthesizes. Both sides get the same sentences with noise scales 0, so both do the same
work and produce the same audio; they are timed interleaved, sentence by sentence, in one run.

    python benchmarks/latency.py                 # starts its own server on free ports
    python benchmarks/latency.py --url host:8001 # against a running server
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import ExitStack

from tritontts.baseline import PiperBaseline
from tritontts.client import TTSClient
from tritontts.export.voice import default_voice

from common import SENTENCES, save, start_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="gRPC HOST:PORT of a running server (default: start one)")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over the sentences")
    args = parser.parse_args()

    baseline = PiperBaseline(*default_voice())
    with ExitStack() as stack:
        url = args.url or start_server(stack).grpc_url
        client = stack.enter_context(TTSClient(url))
        for text in SENTENCES:  # warm-up: sessions, arenas, connections
            baseline.synthesize(text, noise_scale=0.0, noise_w=0.0)
            client.synthesize(text, noise_scale=0.0, noise_w=0.0)
        direct: dict[str, list[float]] = {t: [] for t in SENTENCES}
        triton: dict[str, list[float]] = {t: [] for t in SENTENCES}
        audio_s: dict[str, float] = {}
        for round_ in range(args.rounds):
            print(f"round {round_ + 1}/{args.rounds}", file=sys.stderr)
            for text in SENTENCES:
                start = time.perf_counter()
                baseline.synthesize(text, noise_scale=0.0, noise_w=0.0)
                direct[text].append(time.perf_counter() - start)
                start = time.perf_counter()
                result = client.synthesize(text, noise_scale=0.0, noise_w=0.0)
                triton[text].append(time.perf_counter() - start)
                audio_s[text] = result.duration_s

    rows = []
    print(f"\n{'sentence':<44} {'audio s':>7} {'direct ms':>9} {'triton ms':>9} {'ratio':>6}")
    for text in SENTENCES:
        d, t = statistics.median(direct[text]), statistics.median(triton[text])
        rows.append({"sentence": text, "audio_s": audio_s[text], "direct_ms": d * 1e3,
                     "triton_ms": t * 1e3, "ratio": t / d})
        print(f"{text[:43]:<44} {audio_s[text]:7.2f} {d * 1e3:9.1f} {t * 1e3:9.1f} {t / d:6.2f}")
    total_d = sum(r["direct_ms"] for r in rows)
    total_t = sum(r["triton_ms"] for r in rows)
    audio = sum(audio_s.values())
    print(f"{'all sentences (sum of medians)':<44} {audio:7.2f} {total_d:9.1f} {total_t:9.1f} "
          f"{total_t / total_d:6.2f}")
    print(f"RTF direct {total_d / 1e3 / audio:.3f}, triton {total_t / 1e3 / audio:.3f}; "
          f"triton/direct latency ratio {total_t / total_d:.2f}")
    save("latency.json", {"rounds": args.rounds, "sentences": rows,
                          "direct_ms_total": total_d, "triton_ms_total": total_t,
                          "ratio": total_t / total_d})
    return 0


if __name__ == "__main__":
    sys.exit(main())
