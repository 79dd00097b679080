"""What the end-to-end tests share: a server on a repository of their own, and checks that
audio is speech of the right length."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from tritontts.server import ServerOptions, TritonServer, free_port

# A plausible speaking rate. Runs of short monosyllables with deterministic durations
# (noise_w 0) come out a little faster than 0.25 s per word, hence 0.2.
SECONDS_PER_WORD = (0.2, 0.8)


def assert_speech(audio: np.ndarray, sample_rate: int, text: str,
                  seconds_per_word: tuple[float, float] = SECONDS_PER_WORD) -> None:
    """Speech-length for its words, not silent, not clipped."""
    words = len(text.split())
    duration = len(audio) / sample_rate
    low, high = seconds_per_word
    assert low * words <= duration <= high * words, f"{duration:.2f} s for {words} words"
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    assert rms > 0.01, f"near-silent audio (rms {rms:.4f})"
    clipped = float(np.mean(np.abs(audio) >= 0.999))
    assert clipped < 0.001, f"{clipped:.2%} of samples clipped"


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


@contextmanager
def running_server(repository: Path, **options: object) -> Iterator[TritonServer]:
    """tritonserver on free ports, its log beside the repository; always stopped."""
    server = TritonServer(ServerOptions(repository, http_port=free_port(), grpc_port=free_port(),
                                        metrics_port=free_port(), **options),
                          log_file=repository.parent / "tritonserver.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def settled_metric(server: TritonServer, name: str, at_least: float, model: str | None = None,
                   timeout_s: float = 15.0) -> float:
    """A metric once it reaches `at_least`, or its value when `timeout_s` has passed: Triton
    refreshes some metrics (the cache's) only every couple of seconds."""
    deadline = time.monotonic() + timeout_s
    while (value := server.metric(name, model)) < at_least and time.monotonic() < deadline:
        time.sleep(0.25)
    return value
