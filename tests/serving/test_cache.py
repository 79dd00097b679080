"""Triton's response cache behind the opt-in `tts_cached` model."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from tritontts.serving.server import ServerOptions, TritonServer, free_port
from tritontts_client import TTSClient

from helpers import settled_metric

pytestmark = pytest.mark.e2e

MODEL = "tts_cached"
_numbers = itertools.count()


def cache_counts(server: TritonServer) -> tuple[int, int]:
    client = grpcclient.InferenceServerClient(server.grpc_url)
    stats = client.get_inference_statistics(MODEL, as_json=True)["model_stats"][0]
    inference = stats.get("inference_stats", {})
    return (int(inference.get("cache_hit", {}).get("count", 0)),
            int(inference.get("cache_miss", {}).get("count", 0)))


def test_identical_requests_hit_the_cache_and_get_the_same_audio(server: TritonServer) -> None:
    text = f"Your call is important to us, caller number {next(_numbers)}."
    hits_before, misses_before = cache_counts(server)
    metric_before = server.metric("nv_cache_num_hits_per_model", MODEL)
    with TTSClient(server.grpc_url) as client:
        started = time.perf_counter()
        first = client.synthesize(text, cache=True)  # the voice's random noise scales
        miss_s = time.perf_counter() - started
        hit_s = []
        repeats = []
        for _ in range(5):
            started = time.perf_counter()
            repeats.append(client.synthesize(text, cache=True))
            hit_s.append(time.perf_counter() - started)
        faster = client.synthesize(text, speed=1.25, cache=True)
    hits, misses = cache_counts(server)
    metric_hits = settled_metric(server, "nv_cache_num_hits_per_model", metric_before + 5, MODEL)
    print(f"\ncache: miss {miss_s * 1e3:.1f} ms, hits p50 {np.median(hit_s) * 1e3:.2f} ms; "
          f"statistics hits +{hits - hits_before}, misses +{misses - misses_before}; "
          f"nv_cache_num_hits_per_model +{metric_hits - metric_before:.0f}")
    assert (hits - hits_before, misses - misses_before) == (5, 2)
    assert metric_hits >= metric_before + 5
    # The documented semantics: the same request, the same audio, noise scales or not.
    assert all(np.array_equal(r.audio, first.audio) for r in repeats)
    # Options are part of the key: another speed is another entry, and other audio.
    assert faster.audio.size < first.audio.size
    assert np.median(hit_s) < miss_s / 5


def test_plain_tts_is_not_cached(server: TritonServer) -> None:
    hits_before, _ = cache_counts(server)
    text = "Every call to the plain model is synthesized afresh."
    with TTSClient(server.grpc_url) as client:
        first, second = client.synthesize(text), client.synthesize(text)
    assert cache_counts(server)[0] == hits_before
    assert first.audio.shape != second.audio.shape or not np.array_equal(first.audio,
                                                                         second.audio)


@pytest.fixture
def small_cache_server(repository: Path, tmp_path: Path) -> Iterator[TritonServer]:
    options = ServerOptions(repository, http_port=free_port(), grpc_port=free_port(),
                            metrics_port=free_port(), response_cache_bytes=1 << 20,
                            exit_timeout_s=5)
    server = TritonServer(options, log_file=tmp_path / "tritonserver.log").start()
    yield server
    server.stop()


def test_the_cache_is_bounded(small_cache_server: TritonServer) -> None:
    """1 MiB holds about 12 s of float audio: eight answers of about 4 s do not all fit."""
    server = small_cache_server
    texts = [f"Announcement {n}: the train to the airport leaves from platform two."
             for n in range(8)]
    with TTSClient(server.grpc_url) as client:
        seconds = sum(client.synthesize(t, cache=True).duration_s for t in texts)
    # Every insert shows once the metrics are refreshed, as an entry still there or one
    # evicted (seen stale right after the last request: 2 entries, 0 evictions).
    evictions = settled_metric(server, "nv_cache_num_evictions", 1)
    entries = server.metric("nv_cache_num_entries")
    utilization = server.metric("nv_cache_util")
    print(f"\nsmall cache: {seconds:.1f} s of audio cached into 1 MiB: {entries:.0f} entries, "
          f"{evictions:.0f} evictions, utilization {utilization:.2f}")
    assert seconds * 22050 * 4 > 1 << 20  # more than fits, so the bound has to act
    assert evictions >= 1 and entries < len(texts)
    assert 0 < utilization <= 1.0
