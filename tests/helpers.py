"""What the end-to-end tests share: a server on a repository of their own, and checks that
audio is speech of the right length."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx

from tritontts.export.optimize import STAGE_IO
from tritontts.piper.voice import ExportedVoice
from tritontts.serving.server import ServerOptions, TritonServer, free_port

from tiers import starting

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
    starting("e2e", "a tritonserver")
    # Its exit need not wait: tritonserver holds the exit for the whole exit timeout on the
    # decoupled tts_stream's unload (docs/operations.md, "Graceful shutdown"), so each stop
    # cost the drained stop's 10 s. Graceful stops are tested on servers of their own.
    options.setdefault("exit_timeout_s", 1)
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


ELEM_TYPES = {"INT64": onnx.TensorProto.INT64, "FP32": onnx.TensorProto.FLOAT}


def graph_io(model: onnx.ModelProto) -> list[tuple[str, int, list[str | int]]]:
    """(name, element type, axis names or sizes) of a graph's inputs, then its outputs."""
    values = [*model.graph.input, *model.graph.output]
    return [(v.name, v.type.tensor_type.elem_type,
             [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in values]


def contract_io(stage: str, voice: ExportedVoice) -> list[tuple[str, int, list[str | int]]]:
    """What a stage graph of this voice must expose, as `graph_io` lists it: the contract's
    tensors (the speaker's only for a multi-speaker voice), their types, and each axis's name
    or static size."""
    inputs, outputs = STAGE_IO[stage]
    static_sizes = {"scales": [3], "latent": [voice.latent_channels],
                    "speaker_embedding": [voice.speaker_embedding_channels, 1]}
    expected = []
    for spec in (*inputs, *outputs):
        if spec.optional and voice.num_speakers <= 1:
            continue
        sizes = iter(static_sizes.get(spec.name, []))
        expected.append((spec.name, ELEM_TYPES[spec.dtype],
                         [next(sizes) if axis is None else axis for axis in spec.axes]))
    return expected
