"""Frontend time per sentence against the synthesis time of the same sentence.

Frontend: everything the server does before the acoustic stage (normalization or SSML,
espeak-ng phonemes, chunking, ids, scales). Synthesis: the original voice graph on ONNX
Runtime for that sentence. Both are timed side by side in one run, as medians of --rounds.
Goal: the frontend takes under 5% of the synthesis time of every sentence.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from tritontts.export.voice import default_voice
from tritontts.piper.baseline import PiperBaseline
from tritontts.piper.frontend import encode_request

from common import save

GOAL = 0.05
SENTENCES = [
    "Dr. Smith paid $25.50 for 3 tickets on March 15th, 2024.",
    "The meeting starts at 9:30 am in room 4B; bring your ID.",
    "Visit https://example.com/docs or e-mail help@example.com for details.",
    "It was 25°C and the wind blew at 15 mph from the north-east.",
    "About 45% of the 1,200 users upgraded to version 2.5 last week.",
    "The quick brown fox jumps over the lazy dog.",
    '<speak>Please hold. <break time="300ms"/> <prosody rate="slow">Your call matters.</prosody>'
    "</speak>",
    "Call (555) 123-4567 before 5 pm, Monday to Friday, etc.",
]


def median_time(action, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    baseline = PiperBaseline(*default_voice())
    rows = []
    for text in SENTENCES:  # warm-up: espeak-ng data, ONNX Runtime arenas, num2words caches
        baseline.synthesize(text)
    print(f"{'sentence':<46} {'frontend ms':>11} {'synthesis ms':>12} {'share':>7}")
    for text in SENTENCES:
        front = median_time(lambda t=text: encode_request(baseline.frontend, t), args.rounds)
        total = median_time(lambda t=text: baseline.synthesize(t), args.rounds)
        synthesis = total - front  # baseline.synthesize runs the same frontend first
        share = front / synthesis
        rows.append({"sentence": text, "frontend_ms": front * 1e3,
                     "synthesis_ms": synthesis * 1e3, "share": share})
        print(f"{text[:45]:<46} {front * 1e3:11.2f} {synthesis * 1e3:12.1f} {share:7.2%}")
    worst = max(r["share"] for r in rows)
    print(f"largest frontend share {worst:.2%} (goal < {GOAL:.0%}): "
          f"{'met' if worst < GOAL else 'NOT met'}")
    save("frontend.json", {"rounds": args.rounds, "sentences": rows, "worst_share": worst})
    return 0 if worst < GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
