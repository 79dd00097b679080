"""Throughput in seconds of audio per wall-clock second, at several concurrencies.

Each point runs N client threads that each synthesize the same fixed list of sentences (rotated,
so that the threads do not all send the same sentence at once); throughput is all the audio
they made over the wall time from the first request to the last response. The sides under test
take turns point by point, so background load on the machine falls on all of them alike.
"""

from __future__ import annotations

import queue
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cpu_meter import ForeignCpu, least_disturbed
from latency import Speak, direct_speaker

from tritontts.piper.baseline import PiperBaseline

from common import SENTENCES

CONCURRENCIES = (1, 2, 4, 8)
# The sides `make bench` compares.
TRITON, DIRECT_THREADS, DIRECT_SEQUENTIAL = "triton", "direct threads", "direct sequential"
# Two single-threaded sessions of the original graph side by side (one per core of this
# machine): the most work per core ONNX Runtime does on this voice, so the ceiling of any
# pipeline of its graphs, measured beside the others.
DIRECT_PAIR = "direct 2 sessions × 1 thread"


def session_pool_speaker(baselines: list[PiperBaseline]) -> Speak:
    """Each call takes a session no other call is using (so at concurrency len(baselines)
    every session is busy, each on its own threads)."""
    free: queue.SimpleQueue[PiperBaseline] = queue.SimpleQueue()
    for baseline in baselines:
        free.put(baseline)

    def speak(text: str) -> float:
        baseline = free.get()
        try:
            return direct_speaker(baseline)(text)
        finally:
            free.put(baseline)

    return speak


def run_point(speak: Speak, concurrency: int, sentences: list[str] = SENTENCES) -> dict:
    """One throughput point: `concurrency` threads each speak every sentence once."""

    def worker(offset: int) -> float:
        rotated = sentences[offset:] + sentences[:offset]
        return sum(speak(text) for text in rotated)

    offsets = [i % len(sentences) for i in range(concurrency)]
    with ThreadPoolExecutor(concurrency) as pool, ForeignCpu() as foreign:
        start = time.perf_counter()
        audio_s = sum(pool.map(worker, offsets))
        wall_s = time.perf_counter() - start
    return {"concurrency": concurrency, "requests": concurrency * len(sentences),
            "audio_s": audio_s, "wall_s": wall_s, "audio_s_per_s": audio_s / wall_s,
            "foreign_cores": foreign.cores, "own_cores": foreign.own_cores}


@dataclass(frozen=True)
class Side:
    speak: Speak
    # None: run at every point's concurrency. 1: a sequential reference, run beside every
    # point so that it sees the same background load as the sides it is compared with.
    fixed_concurrency: int | None = None


def measure_throughput(sides: dict[str, Side], concurrencies: tuple[int, ...], rounds: int,
                       sentences: list[str] = SENTENCES) -> dict[str, dict[int, dict]]:
    """{side: {concurrency: point}}, the sides interleaved point by point; a point's
    `audio_s_per_s` is the median over the rounds."""
    for side in sides.values():  # warm-up
        run_point(side.speak, 1, sentences)
    runs: dict[str, dict[int, list[dict]]] = {name: {} for name in sides}
    for round_ in range(rounds):
        for concurrency in concurrencies:
            print(f"throughput round {round_ + 1}/{rounds}, concurrency {concurrency}",
                  file=sys.stderr)
            for name, point in _interleaved_points(sides, concurrency, sentences).items():
                runs[name].setdefault(concurrency, []).append(point)
    return {name: {c: _summary(points) for c, points in by_concurrency.items()}
            for name, by_concurrency in runs.items()}


def _interleaved_points(sides: dict[str, Side], concurrency: int,
                        sentences: list[str]) -> dict[str, dict]:
    """One point of every side, one after the other."""
    return {name: _undisturbed_point(name, side, concurrency, sentences)
            for name, side in sides.items()}


def _undisturbed_point(name: str, side: Side, concurrency: int, sentences: list[str]) -> dict:
    """A point started on a quiet machine, measured again (up to RETRIES times) when other
    work took the CPU during it, so that the sides are compared on equal terms; the least
    disturbed attempt counts."""
    quietest, attempts = least_disturbed(
        lambda: run_point(side.speak, side.fixed_concurrency or concurrency, sentences),
        lambda point: point["foreign_cores"], name)
    return {**quietest, "attempts": attempts}


def overall_median(points: dict[int, dict]) -> float:
    """Median throughput over every round of every point (for a sequential reference)."""
    return statistics.median(x for p in points.values() for x in p["audio_s_per_s_rounds"])


def _summary(points: list[dict[str, Any]]) -> dict[str, Any]:
    return {"concurrency": points[0]["concurrency"], "requests": points[0]["requests"],
            "audio_s": points[0]["audio_s"],
            "audio_s_per_s": statistics.median(p["audio_s_per_s"] for p in points),
            "requests_per_s": statistics.median(p["requests"] / p["wall_s"] for p in points),
            "audio_s_per_s_rounds": [p["audio_s_per_s"] for p in points],
            "wall_s_rounds": [p["wall_s"] for p in points],
            "foreign_cores_rounds": [p["foreign_cores"] for p in points],
            "own_cores_rounds": [p["own_cores"] for p in points],
            "attempts_rounds": [p["attempts"] for p in points]}


def summarize_throughput(points: dict[str, dict[int, dict]], rounds: int,
                         goal: int) -> dict[str, Any]:
    """Each concurrency's Triton figure over the sequential baseline, and the figures at the
    goal's concurrency. The sequential figure is the median of all its runs (one beside every
    point of every round): a single run disturbed by other work cannot tilt every ratio."""
    sequential = points[DIRECT_SEQUENTIAL]
    reference = overall_median(sequential)
    ratios = {c: p["audio_s_per_s"] / reference for c, p in points[TRITON].items()}
    return {"rounds": rounds, "sentences_per_thread": len(SENTENCES), "points": points,
            "direct_sequential": reference,
            "triton_vs_sequential": ratios,
            "triton_at_goal": points[TRITON][goal]["audio_s_per_s"],
            # How much of the machine one sequential stream already keeps busy.
            "direct_sequential_cores": statistics.median(
                x for p in sequential.values() for x in p["own_cores_rounds"]),
            "triton_vs_sequential_at_goal": ratios[goal],
            "ceiling_vs_sequential": (overall_median(points[DIRECT_PAIR]) / reference
                                      if DIRECT_PAIR in points else None)}


def print_throughput(throughput: dict[str, Any]) -> None:
    points = throughput["points"]
    print(f"\nthroughput, s of audio per s; direct sequential, median of all its runs: "
          f"{throughput['direct_sequential']:.1f}")
    print(f"{'concurrency':>11} {'triton':>8} {'direct threads':>14} {'direct seq':>10} "
          f"{'triton/seq':>10}")
    for c in sorted(points[TRITON]):
        print(f"{c:>11} {points[TRITON][c]['audio_s_per_s']:8.1f} "
              f"{points[DIRECT_THREADS][c]['audio_s_per_s']:14.1f} "
              f"{points[DIRECT_SEQUENTIAL][c]['audio_s_per_s']:10.1f} "
              f"{throughput['triton_vs_sequential'][c]:10.2f}")
    if throughput.get("ceiling_vs_sequential"):
        print(f"ceiling: {DIRECT_PAIR} = {throughput['ceiling_vs_sequential']:.2f}× direct "
              "sequential")
