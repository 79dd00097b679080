"""Time to first audio of `tts_stream` against the full latency of `tts`, and underruns.

For a 60-word paragraph: time to first audio (TTFA) p50/p95 over --runs streams, next to the
p50/p95 latency of the whole non-streaming request for the same text, measured alternately in
one run. Then, at concurrency 1 and 4, whether playback would underrun: chunk k must arrive
before the audio of chunks 0..k-1 (played from the arrival of chunk 0) has finished.

    python benchmarks/streaming.py                 # starts its own server
    python benchmarks/streaming.py --url host:8001 # against a running server
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from cpu_meter import PATIENCE, ForeignCpu

from tritontts_client import TTSClient

from common import PARAGRAPH_60_WORDS, percentile, save, start_server

GOAL_RATIO = 0.2


def timed_stream(client: TTSClient, text: str) -> list[tuple[float, float]]:
    """[(arrival after the request was sent, chunk seconds)] of one stream."""
    start = time.perf_counter()
    return [(time.perf_counter() - start, chunk.duration_s) for chunk in client.stream(text)]


def playback_margin(arrivals: list[tuple[float, float]]) -> float:
    """Smallest slack (s) between a chunk's arrival and the end of the audio received before
    it, playback starting when chunk 0 arrives; negative means the listener hears a gap."""
    playback_start = arrivals[0][0]
    received = 0.0
    margin = float("inf")
    for (_, seconds), (arrived, _) in itertools.pairwise(arrivals):
        received += seconds
        margin = min(margin, playback_start + received - arrived)
    return margin


def measure_ttfa(client: TTSClient, text: str, runs: int) -> dict[str, Any]:
    """Time to first audio of `tts_stream` and full latency of `tts` for `text`, alternating
    run by run so that background load falls on both alike."""
    client.synthesize(text)  # warm-up
    timed_stream(client, text)
    ttfa, full = [], []
    PATIENCE.wait_for_quiet()
    with ForeignCpu() as foreign:
        for run in range(runs):
            print(f"streaming run {run + 1}/{runs}", file=sys.stderr)
            ttfa.append(timed_stream(client, text)[0][0])
            start = time.perf_counter()
            client.synthesize(text)
            full.append(time.perf_counter() - start)
    return {"runs": runs, "ttfa_s": ttfa, "full_s": full, "foreign_cores": foreign.cores,
            "ttfa_p50_s": percentile(ttfa, 50), "ttfa_p95_s": percentile(ttfa, 95),
            "full_p50_s": percentile(full, 50), "full_p95_s": percentile(full, 95),
            "ratio_p50": percentile(ttfa, 50) / percentile(full, 50)}


def measure_underruns(client: TTSClient, text: str,
                      concurrencies: tuple[int, ...] = (1, 4)) -> dict[int, dict[str, Any]]:
    """{concurrency: streams, smallest playback margin, underruns}, three streams per thread."""
    underruns = {}
    for concurrency in concurrencies:
        PATIENCE.wait_for_quiet()
        with ThreadPoolExecutor(concurrency) as pool, ForeignCpu() as foreign:
            runs = list(pool.map(lambda _: timed_stream(client, text), range(concurrency * 3)))
        margins = [playback_margin(arrivals) for arrivals in runs]
        underruns[concurrency] = {"streams": len(runs), "min_margin_s": min(margins),
                                  "underruns": sum(m < 0 for m in margins),
                                  "foreign_cores": foreign.cores}
    return underruns


def goal_met(ttfa: dict[str, Any], underruns: dict[int, dict[str, Any]]) -> bool:
    return ttfa["ratio_p50"] <= GOAL_RATIO and all(
        r["underruns"] == 0 for r in underruns.values())


def print_streaming(ttfa: dict[str, Any], underruns: dict[int, dict[str, Any]]) -> None:
    print(f"\n60-word paragraph, {ttfa['runs']} runs each, alternating")
    print(f"  time to first audio  p50 {ttfa['ttfa_p50_s'] * 1e3:7.1f} ms   "
          f"p95 {ttfa['ttfa_p95_s'] * 1e3:7.1f} ms")
    print(f"  full latency (tts)   p50 {ttfa['full_p50_s'] * 1e3:7.1f} ms   "
          f"p95 {ttfa['full_p95_s'] * 1e3:7.1f} ms")
    print(f"  TTFA p50 / full p50 = {ttfa['ratio_p50']:.3f} (goal <= {GOAL_RATIO})")
    for concurrency, result in underruns.items():
        print(f"  concurrency {concurrency}: {result['streams']} streams, "
              f"{result['underruns']} underruns, smallest margin "
              f"{result['min_margin_s'] * 1e3:.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="gRPC HOST:PORT of a running server (default: start one)")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    with ExitStack() as stack:
        url = args.url or start_server(stack).grpc_url
        client = stack.enter_context(TTSClient(url))
        ttfa = measure_ttfa(client, PARAGRAPH_60_WORDS, args.runs)
        underruns = measure_underruns(client, PARAGRAPH_60_WORDS)
    print_streaming(ttfa, underruns)
    save("streaming.json", {**ttfa, "underruns": underruns})
    return 0 if goal_met(ttfa, underruns) else 1


if __name__ == "__main__":
    sys.exit(main())
