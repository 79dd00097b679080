"""Response cache: latency of a cache hit against a miss on the `tts_cached` model.

Each held-out sentence is sent once (a miss: the whole pipeline runs and the answer is
stored), then --hits more times (answered from the cache). The voice's default options are
used, as a caller repeating a prompt would. Prints p50/p95 of both and the goal verdict
(hit p50 at most --goal-ms), and saves benchmarks/results/cache.json.

    python benchmarks/cache.py                 # starts its own server with a 64 MiB cache
    python benchmarks/cache.py --url host:8001 # against a running server (needs its cache)
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from contextlib import ExitStack

from tritontts_client import TTSClient

from common import SENTENCES, percentile, save, start_server

CACHE_BYTES = 64 << 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="gRPC HOST:PORT of a running server (default: start one)")
    parser.add_argument("--hits", type=int, default=20, help="cached repeats per sentence")
    parser.add_argument("--goal-ms", type=float, default=5.0, help="goal for the hit p50")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]  # a fresh key space, so the first call of each is a miss
    misses: list[float] = []
    hits: list[float] = []
    with ExitStack() as stack:
        url = args.url or start_server(stack, response_cache_bytes=CACHE_BYTES).grpc_url
        client = stack.enter_context(TTSClient(url))
        client.synthesize("Warm up.")
        for text in SENTENCES:
            text = f"{text} ({run})"
            started = time.perf_counter()
            first = client.synthesize(text, cache=True)
            misses.append(time.perf_counter() - started)
            for _ in range(args.hits):
                started = time.perf_counter()
                again = client.synthesize(text, cache=True)
                hits.append(time.perf_counter() - started)
                if again.audio.shape != first.audio.shape:
                    print("error: a cache hit returned other audio", file=sys.stderr)
                    return 1

    rows = {name: {"count": len(values), "p50_ms": percentile(values, 50) * 1e3,
                   "p95_ms": percentile(values, 95) * 1e3}
            for name, values in (("miss", misses), ("hit", hits))}
    print(f"{'':<6} {'count':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for name, row in rows.items():
        print(f"{name:<6} {row['count']:>6} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f}")
    speedup = rows["miss"]["p50_ms"] / rows["hit"]["p50_ms"]
    met = rows["hit"]["p50_ms"] <= args.goal_ms
    print(f"hit p50 is {speedup:.0f}x faster than a miss; goal hit p50 <= {args.goal_ms:g} ms: "
          f"{'MET' if met else 'MISSED'}")
    save("cache.json", {"hits_per_sentence": args.hits, **rows, "speedup_p50": speedup,
                        "goal_ms": args.goal_ms, "goal_met": met})
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
