"""How many instances, threads, queues and batches the Piper pipeline gets: one type for what
both profiles set, one subclass each for what only one of them has. docs/architecture.md ("The cpu
profile") has the measurements behind the cpu defaults."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tritontts.piper.frontend import SENTENCE_PAUSE_S
from tritontts.piper.runtimes import CpuFeatures, cpu_features
from tritontts.piper.windows import WindowPlan
from tritontts_client.contract import (
    ACOUSTIC_MODEL,
    PRECISION_BF16,
    PRECISION_F32,
    PRECISION_MIXED,
    PRIORITY_LEVELS,
    REALTIME_PRIORITY,
    RUNTIME_ONNXRUNTIME,
    RUNTIME_OPENVINO,
    VOCODER_MODEL,
)


@dataclass(frozen=True)
class StageTuning:
    """One heavy stage (acoustic or vocoder)."""

    instances: int = 1
    # ONNX Runtime threads of each instance (cpu profile; native backends choose their own).
    threads: int = 1
    # Triton's default_queue_policy; 0 means "no limit", as in Triton.
    queue_size: int = 0
    queue_timeout_us: int = 0
    # When the stages take turns on the CPU, one with priority 2 gets half the turns of one
    # with priority 1.
    turn_priority: int = 1
    # cpu profile: the library that runs the stage graph ("onnxruntime" | "openvino") and its
    # precision ("f32"; OpenVINO also "mixed" for acoustic, "bf16" for vocoder, on CPUs that
    # compute bf16 natively, f32 with a warning elsewhere). See tritontts/piper/runtimes.py.
    runtime: str = RUNTIME_ONNXRUNTIME
    precision: str = PRECISION_F32


@dataclass(frozen=True)
class Tuning:
    """What both profiles set."""

    acoustic: StageTuning = field(default_factory=StageTuning)
    vocoder: StageTuning = field(default_factory=StageTuning)
    frontend_instances: int = 1
    postprocess_instances: int = 1
    max_queue_delay_us: int = 0
    preferred_batch_sizes: tuple[int, ...] = ()
    # The heavy stages' queues have a level per kind of traffic: real-time requests (the
    # default) are served before long-audio jobs' (contract.BATCH_PRIORITY).
    priority_levels: int = PRIORITY_LEVELS
    default_priority_level: int = REALTIME_PRIORITY
    # Pad phoneme ids to these lengths so that requests share shapes (native backends batch
    # only equal shapes); empty: pad to the request's longest chunk.
    length_buckets: tuple[int, ...] = ()
    sentence_pause_s: float = SENTENCE_PAUSE_S
    stream_windows: WindowPlan = field(default_factory=WindowPlan)
    # Streams in progress at once per tts_stream instance.
    max_concurrent_streams: int = 8

    def stage(self, name: str) -> StageTuning:
        return {ACOUSTIC_MODEL: self.acoustic, VOCODER_MODEL: self.vocoder}[name]


@dataclass(frozen=True)
class CpuTuning(Tuning):
    """The cpu profile: python-backend stages on ONNX Runtime.

    Overload: the heavy stages keep short, bounded queues, so a burst above capacity is
    refused at once (queue full) or after a bounded wait (timeout) instead of piling up.
    acoustic is where a request enters the heavy work, so it is the admission gate: 8 waiting
    requests are ~0.3 s of work for short sentences here, and a request that could not start
    within 2 s is refused so that its client can back off or go elsewhere. The timeout is not
    tighter because one batch of long sentences takes seconds to run, and a request queued
    behind it is not a sign of overload. vocoder only holds work acoustic accepted and already
    paid for, so it gets twice the room and a timeout that only drops audio nobody waits for
    any more.

    The heavy stages take turns on the CPU (a global "cpu" resource, a unit per thread, a unit
    per core), and vocoder gets four turns for each of acoustic's. By default each uses both
    cores, so running them at the same time bought no throughput here (13.8 vs 13.7
    requests/s), but under overload the faster acoustic stage outran vocoder, whose queue then
    overflowed and threw away acoustic's work. Served first, vocoder drains its queue every
    turn, and the backlog waits at acoustic, the gate, where refusing costs nothing.
    """

    acoustic: StageTuning = StageTuning(instances=1, threads=2, queue_size=8,
                                        queue_timeout_us=2_000_000, turn_priority=4)
    vocoder: StageTuning = StageTuning(instances=1, threads=2, queue_size=16,
                                       queue_timeout_us=10_000_000, turn_priority=1)
    # Items per ONNX Runtime call inside a stage: padded batches do not pay on CPU.
    stage_sub_batch: int = 1
    # No waiting for a batch to fill (max_queue_delay_us 0, inherited): a stage runs one item
    # at a time anyway, and requests that arrive while it is busy still meet in the next batch.
    # Waiting cost each request ~1.2 ms per stage in single-stream latency.
    take_turns_on_cpu: bool = True

    def with_stages(self, instances: int, threads: int, take_turns: bool = True) -> CpuTuning:
        """Both heavy stages with these instances and threads (queues and priorities kept)."""
        return replace(self, acoustic=replace(self.acoustic, instances=instances,
                                              threads=threads),
                       vocoder=replace(self.vocoder, instances=instances, threads=threads),
                       take_turns_on_cpu=take_turns)

    def with_runtime(self, name: str) -> CpuTuning:
        """Both heavy stages on one of the CPU_RUNTIMES, or AUTO_RUNTIME: the one this CPU
        serves fastest within the quality bounds (instances, threads, queues kept)."""
        acoustic, vocoder = CPU_RUNTIMES[resolve_runtime(name)]
        return replace(self, acoustic=replace(self.acoustic, runtime=acoustic[0],
                                              precision=acoustic[1]),
                       vocoder=replace(self.vocoder, runtime=vocoder[0], precision=vocoder[1]))


@dataclass(frozen=True)
class GpuTuning(Tuning):
    """The gpu profile: stage graphs on TensorRT (or ONNX Runtime) on KIND_GPU instances."""

    # Two instances per stage let one copy compute while the other's batch is being formed.
    acoustic: StageTuning = StageTuning(instances=2)
    vocoder: StageTuning = StageTuning(instances=2)
    # The python models run on the host's CPU cores.
    frontend_instances: int = 4
    postprocess_instances: int = 2
    max_queue_delay_us: int = 2000
    preferred_batch_sizes: tuple[int, ...] = (4, 8, 16)
    length_buckets: tuple[int, ...] = (32, 64, 128, 256, 400)
    # Phoneme ids and latent frames of the warm-up requests (a typical sentence).
    warmup_phonemes: int = 128
    warmup_frames: int = 280


# Named stage runtimes (`tritontts repository --runtime NAME`): (runtime, precision) of acoustic
# and vocoder. openvino-bf16: the vocoder in bf16, acoustic mixed (its duration path f32); on a
# CPU without native bf16 the stages run in f32 and the server log says so.
CPU_RUNTIMES: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "onnxruntime": ((RUNTIME_ONNXRUNTIME, PRECISION_F32), (RUNTIME_ONNXRUNTIME, PRECISION_F32)),
    "openvino": ((RUNTIME_OPENVINO, PRECISION_F32), (RUNTIME_OPENVINO, PRECISION_F32)),
    "openvino-bf16": ((RUNTIME_OPENVINO, PRECISION_MIXED), (RUNTIME_OPENVINO, PRECISION_BF16)),
    "openvino-bf16-vocoder": ((RUNTIME_OPENVINO, PRECISION_F32),
                              (RUNTIME_OPENVINO, PRECISION_BF16)),
}

# Named cpu-profile settings (`tritontts repository --tuning NAME`). latency: each heavy stage
# one instance on both cores, for the fastest single request. throughput: two single-threaded
# instances per stage, up to one per core at a time, as single-threaded ONNX Runtime sessions
# side by side do more work per core than one session on two threads; a lone request is then
# slower.
CPU_TUNINGS = {
    "latency": CpuTuning(),
    "throughput": CpuTuning().with_stages(instances=2, threads=1),
}

# `--runtime auto` (the served default): see auto_runtime.
AUTO_RUNTIME = "auto"


def auto_runtime(features: CpuFeatures | None = None) -> str:
    """The named runtime the cpu profile serves on this CPU by default. Figures (2 threads,
    the 8 held-out sentences): docs/benchmarks-cpu.md, benchmarks/stage_graphs.py (the graphs
    in-process) and benchmarks/budget.py (served).

    With AMX (amx_bf16, and OpenVINO offering BF16): both stages on OpenVINO, acoustic f32, the
    vocoder bf16 with its upsampling as polyphase convolutions (polyphase.py): the vocoder in
    0.28× ONNX Runtime's time, the frame counts equal, the audio within the perceptual bounds
    (STOI, mel-cepstral distance: export/perceptual.py). acoustic stays f32: OpenVINO's "mixed"
    leaks bf16 into its duration path on that CPU (runtimes.py). In-process ONNX Runtime runs
    acoustic faster (0.88×), but served beside the OpenVINO vocoder it made 9.95 requests/s at
    concurrency 4 where OpenVINO's acoustic made 13.03: the two runtimes' thread pools contend.

    With AVX-512 but no AMX: both stages on OpenVINO f32 (vocoder polyphase 0.73×, acoustic
    1.14× ONNX Runtime's time in-process), estimated on the AMX CPU with OpenVINO capped to
    AVX512_CORE_BF16; bf16 there ran the vocoder in 0.91×, f32 does better.

    AVX2 only: ONNX Runtime f32: OpenVINO capped to AVX2 ran the polyphase vocoder in 0.96× and
    acoustic in 1.46×: nothing to gain.
    """
    features = features or cpu_features()
    if "amx_bf16" in features.flags and features.bf16:
        return "openvino-bf16-vocoder"
    if "avx512f" in features.flags:
        return "openvino"
    return "onnxruntime"


def resolve_runtime(name: str) -> str:
    """A name of CPU_RUNTIMES, with AUTO_RUNTIME resolved for this CPU."""
    return auto_runtime() if name == AUTO_RUNTIME else name
