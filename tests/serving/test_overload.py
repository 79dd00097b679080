"""A burst of about ten times capacity: refused quickly and clearly, never piled up.

Capacity is measured first (short sentences, one at a time: on this machine one request
already uses both cores). Then requests arrive at ten times that rate for 20 s, each from its
own thread through the retrying client with a deadline, as real callers would.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from tritontts.piper.cpu import CpuTuning
from tritontts.serving.server import TritonServer
from tritontts_client import (
    DeadlineExceededError,
    OverloadedError,
    Synthesis,
    TTSClient,
    TTSError,
)

pytestmark = pytest.mark.e2e

BURST_S = 20.0
MULTIPLE = 10
DEADLINE_S = 5.0
# How much later than its deadline a call may return: the client's own bookkeeping, with
# 256 client threads and the server sharing two cores. 0.5 s held on the earlier machine; on
# this project's current 2-core machine (stages ~1.6x slower: unloaded p50 133-140 ms against
# 83 ms) a quiet full-suite run saw a call return 0.75 s after its deadline.
DEADLINE_GRACE_S = 1.0
WORKERS = 256
_numbers = itertools.count()


def text() -> str:
    return f"Short request number {next(_numbers)}."  # distinct, so nothing is cached


@dataclass
class Call:
    started: float
    ended: float
    result: Synthesis | None
    error: TTSError | None


def stage_time_s(client: grpcclient.InferenceServerClient, model: str) -> tuple[float, int]:
    """Total compute time of the stage's batches, and the items they held, so far."""
    stats = client.get_inference_statistics(model, as_json=True)["model_stats"][0]
    seconds, items = 0.0, 0
    for batch in stats.get("batch_stats", []):
        compute = batch["compute_infer"]
        seconds += int(compute.get("ns", 0)) / 1e9
        items += int(compute.get("count", 0)) * int(batch["batch_size"])
    return seconds, items


def per_item_s(before: tuple[float, int], after: tuple[float, int]) -> float:
    return (after[0] - before[0]) / max(1, after[1] - before[1])


def test_burst_of_ten_times_capacity(server: TritonServer) -> None:
    stats = grpcclient.InferenceServerClient(server.grpc_url)
    tuning = CpuTuning()
    with TTSClient(server.grpc_url, deadline_s=DEADLINE_S) as client:
        for _ in range(2):
            client.synthesize(text())  # warm-up
        started = time.monotonic()
        unloaded = []
        for _ in range(8):
            t0 = time.monotonic()
            client.synthesize(text())
            unloaded.append(time.monotonic() - t0)
        capacity = len(unloaded) / (time.monotonic() - started)
        rate = MULTIPLE * capacity

        ready: list[bool] = []
        stop_probe = threading.Event()

        def probe() -> None:
            while not stop_probe.wait(0.25):
                ready.append(server.is_ready())

        def call() -> Call:
            t0 = time.monotonic()
            try:
                result = client.synthesize(text())
            except TTSError as exc:
                return Call(t0, time.monotonic(), None, exc)
            return Call(t0, time.monotonic(), result, None)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        stage_before = {m: stage_time_s(stats, m) for m in ("acoustic", "vocoder")}
        futures = []
        burst_start = time.monotonic()
        with ThreadPoolExecutor(WORKERS) as pool:
            for n in itertools.count():
                due = burst_start + n / rate
                if due > burst_start + BURST_S:
                    break
                time.sleep(max(0.0, due - time.monotonic()))
                futures.append(pool.submit(call))
            calls = [f.result() for f in futures]
        burst_s = time.monotonic() - burst_start
        stop_probe.set()
        prober.join()
        stage_after = {m: stage_time_s(stats, m) for m in ("acoustic", "vocoder")}
        after_burst = client.synthesize("The burst is over.")

    accepted = [c for c in calls if c.result is not None]
    first_try = np.array([c.ended - c.started for c in accepted if c.result.attempts == 1])
    refused = [c for c in calls if c.error is not None]
    durations = np.array([c.ended - c.started for c in calls])
    kinds = sorted({type(c.error).__name__ for c in refused})
    item_s = {m: per_item_s(stage_before[m], stage_after[m]) for m in stage_before}
    # Bound from the queue policy. A request accepted past acoustic's queue waited there at
    # most the queue timeout (else it is refused). After that, FIFO, at most everything the
    # heavy stages can hold ahead of it is done first, one stage at a time on the shared CPU:
    # acoustic's running batch and full queue (2 x its queue size, one short sentence each),
    # then vocoder's (2 x its queue size). Per-item times are the ones measured during the
    # burst; the unloaded latency covers the light stages and the transport.
    acoustic_size, vocoder_size = tuning.acoustic.queue_size, tuning.vocoder.queue_size
    bound = (tuning.acoustic.queue_timeout_us / 1e6 + 2 * acoustic_size * item_s["acoustic"]
             + 2 * vocoder_size * item_s["vocoder"] + float(np.median(unloaded)))
    p99 = float(np.percentile(first_try, 99)) if first_try.size else float("nan")
    print(f"\ncapacity {capacity:.1f} req/s (unloaded p50 {np.median(unloaded) * 1e3:.0f} ms); "
          f"burst {len(calls)} requests at {rate:.0f}/s over {burst_s:.1f} s: "
          f"{len(accepted)} answered ({len(accepted) / burst_s:.1f}/s), {len(refused)} refused "
          f"{kinds}; answered at the first try: {first_try.size}, p50 "
          f"{np.median(first_try) * 1e3:.0f} ms, p99 {p99 * 1e3:.0f} ms (bound "
          f"{bound * 1e3:.0f} ms from the queue policy with per-item times acoustic "
          f"{item_s['acoustic'] * 1e3:.0f} ms, vocoder {item_s['vocoder'] * 1e3:.0f} ms); "
          f"slowest call {durations.max():.2f} s; stage items during the burst: acoustic "
          f"{stage_after['acoustic'][1] - stage_before['acoustic'][1]}, vocoder "
          f"{stage_after['vocoder'][1] - stage_before['vocoder'][1]}")

    assert len(calls) >= MULTIPLE * capacity * BURST_S * 0.9
    assert all(ready), "the server stopped being ready during the burst"
    # Every request ended with audio or a clear refusal, within its deadline.
    for c in refused:
        assert isinstance(c.error, OverloadedError | DeadlineExceededError), repr(c.error)
    assert durations.max() <= DEADLINE_S + DEADLINE_GRACE_S
    # Refused, not piled up: most of the burst was turned away, and what was accepted kept a
    # latency the queue policy bounds.
    assert len(refused) > len(accepted)
    assert first_try.size >= 10
    assert p99 <= bound
    assert after_burst.audio.size > 0
