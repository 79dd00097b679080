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
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from cpu_meter import ForeignCpu, least_disturbed

from tritontts.export.voice import default_voice
from tritontts.piper.baseline import PiperBaseline
from tritontts_client import TTSClient

from common import SENTENCES, save, start_server

# Noise scales 0: the baseline and the ensemble then do the same work and give the same audio.
DETERMINISTIC = {"noise_scale": 0.0, "noise_w": 0.0}

# Synthesizes one text and returns the seconds of audio it made.
Speak = Callable[[str], float]


def direct_speaker(baseline: PiperBaseline) -> Speak:
    rate = baseline.voice.sample_rate
    return lambda text: len(baseline.synthesize(text, **DETERMINISTIC)) / rate


def triton_speaker(client: TTSClient) -> Speak:
    return lambda text: client.synthesize(text, **DETERMINISTIC).duration_s


def warm_up(speakers: list[Speak], sentences: list[str] = SENTENCES) -> None:
    """One pass over the sentences: sessions, memory arenas and connections get made."""
    for text in sentences:
        for speak in speakers:
            speak(text)


@dataclass
class Timings:
    seconds: dict[str, dict[str, list[float]]]  # {side: {sentence: [seconds per round]}}
    foreign_cores: list[float]  # other work's CPU during each round

    def median_ms(self, side: str, text: str) -> float:
        return statistics.median(self.seconds[side][text]) * 1e3


def time_interleaved(speakers: dict[str, Speak], rounds: int,
                     sentences: list[str] = SENTENCES) -> Timings:
    """The sides take turns sentence by sentence, so background load on the machine falls on
    all of them alike; each round starts on a quiet machine."""
    timings = Timings({side: {text: [] for text in sentences} for side in speakers}, [])
    for round_ in range(rounds):
        print(f"latency round {round_ + 1}/{rounds}", file=sys.stderr)
        def measured_round() -> tuple[float, dict[str, dict[str, float]]]:
            with ForeignCpu() as foreign:
                seconds = one_round(speakers, sentences)
            return foreign.cores, seconds

        (cores, seconds), _ = least_disturbed(measured_round, lambda r: r[0],
                                              f"latency round {round_ + 1}")
        for side, by_text in seconds.items():
            for text, value in by_text.items():
                timings.seconds[side][text].append(value)
        timings.foreign_cores.append(cores)
    return timings


def one_round(speakers: dict[str, Speak], sentences: list[str]) -> dict[str, dict[str, float]]:
    """Seconds of each side for each sentence, the sides taking turns sentence by sentence."""
    seconds: dict[str, dict[str, float]] = {side: {} for side in speakers}
    for text in sentences:
        for side, speak in speakers.items():
            start = time.perf_counter()
            speak(text)
            seconds[side][text] = time.perf_counter() - start
    return seconds


def measure_latency(baseline: PiperBaseline, client: TTSClient, rounds: int,
                    sentences: list[str] = SENTENCES,
                    others: dict[str, Speak] | None = None) -> dict[str, Any]:
    """Median latency per sentence of both sides, their sums, real-time factors and ratio;
    `others` (e.g. Piper's own server) are timed interleaved with them, each row then has
    `<side>_ms` and `<side>_audio_s`, and the result `<side>_ms_total`."""
    others = others or {}
    speakers = {"direct": direct_speaker(baseline), "triton": triton_speaker(client), **others}
    warm_up(list(speakers.values()), sentences)
    timings = time_interleaved(speakers, rounds, sentences)
    rows = []
    for text in sentences:
        direct, triton = timings.median_ms("direct", text), timings.median_ms("triton", text)
        row = {"sentence": text, "audio_s": triton_speaker(client)(text),
               "direct_ms": direct, "triton_ms": triton, "ratio": triton / direct}
        for side, speak in others.items():
            row[f"{side}_ms"] = timings.median_ms(side, text)
            row[f"{side}_audio_s"] = speak(text)
        rows.append(row)
    total_direct = sum(r["direct_ms"] for r in rows)
    total_triton = sum(r["triton_ms"] for r in rows)
    audio = sum(r["audio_s"] for r in rows)
    result = {"rounds": rounds, "sentences": rows, "audio_s_total": audio,
              "direct_ms_total": total_direct, "triton_ms_total": total_triton,
              "rtf_direct": total_direct / 1e3 / audio, "rtf_triton": total_triton / 1e3 / audio,
              "ratio": total_triton / total_direct, "foreign_cores": timings.foreign_cores}
    for side in others:
        result[f"{side}_ms_total"] = sum(r[f"{side}_ms"] for r in rows)
        result[f"{side}_audio_s_total"] = sum(r[f"{side}_audio_s"] for r in rows)
    return result


def print_latency(result: dict[str, Any]) -> None:
    print(f"\n{'sentence':<44} {'audio s':>7} {'direct ms':>9} {'triton ms':>9} {'ratio':>6}")
    for row in result["sentences"]:
        print(f"{row['sentence'][:43]:<44} {row['audio_s']:7.2f} {row['direct_ms']:9.1f} "
              f"{row['triton_ms']:9.1f} {row['ratio']:6.2f}")
    print(f"{'all sentences (sum of medians)':<44} {result['audio_s_total']:7.2f} "
          f"{result['direct_ms_total']:9.1f} {result['triton_ms_total']:9.1f} "
          f"{result['ratio']:6.2f}")
    print(f"RTF direct {result['rtf_direct']:.3f}, triton {result['rtf_triton']:.3f}; "
          f"triton/direct latency ratio {result['ratio']:.2f}")


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
        result = measure_latency(baseline, client, args.rounds)
    print_latency(result)
    save("latency.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
