"""The libraries that run a stage graph on CPU: ONNX Runtime or OpenVINO, f32 or bfloat16.

A runner holds one compiled graph and runs it on a dict of named inputs; the stages
(stages.py) keep their padding, sub-batches and trimming around whichever runner they get.

bfloat16 pays only where the CPU computes it natively (AVX512_BF16 or AMX), so the precision a
stage asks for is checked once against the CPU's features: where they are missing the stage
runs in f32 and says so. "mixed" keeps what durations depend on in f32: they are
ceil(exp(logw) · length_scale), so any rounding there can move a ceil and change the speech.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from tritontts import contract as c
from tritontts.errors import UsageError

Runtime = Literal["onnxruntime", "openvino"]
Precision = Literal["f32", "bf16", "mixed"]

# Where a "mixed" stage computes in bfloat16: globs over node names, the same split the FP16
# export measured (export/optimize.py): the flow's coupling convolutions of the acoustic stage,
# the whole vocoder. Everything else (text encoder, duration predictor, the alignment, the
# flow's residual stream) stays f32.
REDUCED_PRECISION_SCOPES: dict[str, tuple[str, ...]] = {
    c.ACOUSTIC_MODEL: ("/flow/flows.*/enc/*", "/flow/flows.*/pre/*", "/flow/flows.*/post/*"),
    c.VOCODER_MODEL: ("*",),
}
# The precisions each stage may be described with. acoustic: not bf16 as a whole, which moved
# durations (OpenVINO bf16 made 338 frames where f32 made 340 for 120 ids); vocoder: its graph
# is all frame-rate convolutions, so "mixed" would be bf16 under another name.
STAGE_PRECISIONS: dict[str, tuple[str, ...]] = {
    c.ACOUSTIC_MODEL: (c.PRECISION_F32, c.PRECISION_MIXED),
    c.VOCODER_MODEL: (c.PRECISION_F32, c.PRECISION_BF16),
}
# Ops kept f32 even inside a scope: the noise, the exp / log of log-durations and log-scales
# (whose relative error low precision multiplies), and what sums durations into frame counts.
KEEP_F32_OPS: tuple[str, ...] = ("RandomNormalLike", "Exp", "Softplus", "Log", "CumSum",
                                 "ReduceSum", "Ceil")
# OpenVINO's runtime-info key that keeps a node in f32 when the model is compiled for a lower
# inference precision (ov::disable_fp16_compression; the CPU plugin honours it for bf16 too).
OV_KEEP_F32 = "precise_0"
# /proc/cpuinfo flags of native bfloat16 arithmetic.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class CpuFeatures:
    """What this CPU offers a stage, read once per process."""

    flags: frozenset[str]  # the /proc/cpuinfo flags among BF16_CPU_FLAGS
    openvino_bf16: bool  # OpenVINO's CPU plugin lists BF16 among its capabilities

    @property
    def bf16(self) -> bool:
        return self.openvino_bf16

    def describe(self) -> str:
        flags = ", ".join(sorted(self.flags)) or "none of " + ", ".join(BF16_CPU_FLAGS)
        return f"bf16 {'available' if self.bf16 else 'not available'} (CPU flags: {flags})"


@functools.cache
def cpu_features() -> CpuFeatures:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    flags = {flag for line in text.splitlines() if line.startswith("flags")
             for flag in line.split(":", 1)[1].split() if flag in BF16_CPU_FLAGS}
    import openvino as ov

    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return CpuFeatures(frozenset(flags), "BF16" in capabilities)


def check_choice(stage: str, runtime: str, precision: str) -> None:
    """A runtime and precision a stage can be described with (at render time)."""
    if runtime not in c.RUNTIMES:
        raise UsageError(f"unknown stage runtime {runtime!r} (choose from {', '.join(c.RUNTIMES)})")
    allowed = STAGE_PRECISIONS[stage]
    if precision not in allowed:
        raise UsageError(f"{stage}: precision {precision!r} is not one of {', '.join(allowed)}"
                         + (" (bf16 throughout changes the durations, hence the speech; mixed "
                            "keeps them f32)" if precision == c.PRECISION_BF16 else ""))
    if runtime == c.RUNTIME_ONNXRUNTIME and precision != c.PRECISION_F32:
        raise UsageError(f"precision {precision} needs the openvino runtime; ONNX Runtime runs "
                         "the stage graphs in f32 only")


@dataclass(frozen=True)
class Resolved:
    """The precision a stage runs in on this CPU, and why it differs from the one asked for."""

    precision: Precision
    fallback: str | None = None


def resolve_precision(precision: str, features: CpuFeatures) -> Resolved:
    if precision == c.PRECISION_F32 or features.bf16:
        return Resolved(precision)  # type: ignore[arg-type]
    return Resolved(c.PRECISION_F32, f"{precision} asked for, but {features.describe()}: "
                                     "running in f32")


class Runner(Protocol):
    """One compiled stage graph."""

    input_names: tuple[str, ...]
    description: str

    def output_dim(self, output: int, axis: int) -> int: ...

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]: ...


# How long an idle ONNX Runtime thread of a stage spins before it sleeps (microseconds).
SPIN_US = 100


def ort_session(model_path: str | Path, threads: int):  # -> ort.InferenceSession
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Threads spin between the many small operators of a run (without it the split stages
    # were 7% slower than the whole graph), but only briefly: the stages run in separate
    # processes on the same cores, and a thread spinning on after its run (ONNX Runtime's
    # default) steals the CPU from the next stage.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1")
    options.add_session_config_entry("session.intra_op.spin_duration_us", str(SPIN_US))
    options.add_session_config_entry("session.dynamic_block_base", "4")
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


class OnnxRuntimeRunner:
    def __init__(self, model_path: str | Path, threads: int) -> None:
        self.session = ort_session(model_path, threads)
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.description = f"onnxruntime f32, {threads} threads"

    def output_dim(self, output: int, axis: int) -> int:
        return int(self.session.get_outputs()[output].shape[axis])

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, dict(feeds))


def keep_f32_outside(model, scopes: Sequence[str], keep_ops: Sequence[str] = KEEP_F32_OPS
                     ) -> int:
    """Mark every node of an OpenVINO model outside `scopes` (or of a `keep_ops` type) to stay
    f32 under a bf16 inference precision; returns how many nodes may run in bf16."""
    reduced = 0
    for op in model.get_ops():
        name = op.get_friendly_name()
        if op.get_type_name() in keep_ops or not any(
                fnmatch.fnmatchcase(name, scope) for scope in scopes):
            op.get_rt_info()[OV_KEEP_F32] = ""
        else:
            reduced += 1
    return reduced


class OpenVinoRunner:
    """A stage graph compiled by OpenVINO's CPU plugin for one request at a time on `threads`
    threads, in the precision this CPU allows."""

    def __init__(self, model_path: str | Path, threads: int, precision: Precision,
                 stage: str, features: CpuFeatures | None = None) -> None:
        import openvino as ov

        resolved = resolve_precision(precision, features or cpu_features())
        core = ov.Core()
        model = core.read_model(str(model_path))
        if resolved.precision == c.PRECISION_MIXED:
            keep_f32_outside(model, REDUCED_PRECISION_SCOPES[stage])
        hint = "f32" if resolved.precision == c.PRECISION_F32 else "bf16"
        compiled = core.compile_model(model, "CPU", {
            "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": hint})
        self.request = compiled.create_infer_request()
        self.outputs = compiled.outputs
        self.input_names = tuple(i.get_any_name() for i in compiled.inputs)
        self.precision: Precision = resolved.precision
        self.fallback = resolved.fallback
        self.bf16_nodes = runtime_bf16_nodes(compiled)
        self.description = (f"openvino {resolved.precision} ({self.bf16_nodes} nodes run in "
                            f"bf16), {threads} threads")

    def output_dim(self, output: int, axis: int) -> int:
        return self.outputs[output].get_partial_shape()[axis].get_length()

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        results = self.request.infer(dict(feeds))
        # The request reuses its output buffers on the next run: copy them out.
        return [np.array(results[output]) for output in self.outputs]


def runtime_bf16_nodes(compiled) -> int:
    """Nodes of the compiled graph that run in bf16 (OpenVINO's execution graph says)."""
    return sum(1 for op in compiled.get_runtime_model().get_ops()
               if op.get_rt_info()["runtimePrecision"].astype(str) == "bf16")


def make_runner(model_path: str | Path, stage: str, threads: int,
                runtime: str = c.RUNTIME_ONNXRUNTIME, precision: str = c.PRECISION_F32
                ) -> Runner:
    check_choice(stage, runtime, precision)
    if runtime == c.RUNTIME_OPENVINO:
        return OpenVinoRunner(model_path, threads, precision, stage)  # type: ignore[arg-type]
    return OnnxRuntimeRunner(model_path, threads)
