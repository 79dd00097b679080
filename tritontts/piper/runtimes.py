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
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from tritontts.errors import UsageError
from tritontts.piper.polyphase import polyphase_layers, rewrite_transposed_convolutions
from tritontts.piper.precision import KEEP_FULL_PRECISION_OPS, REDUCED_PRECISION_SCOPES
from tritontts_client import contract as c

Runtime = Literal["onnxruntime", "openvino"]
Precision = Literal["f32", "bf16", "mixed"]

# Where a "mixed" stage computes in bfloat16: the same scopes as the FP16 export (precision.py).
# The precisions each stage may be described with. acoustic: not bf16 as a whole, which moved
# durations (OpenVINO bf16 made 338 frames where f32 made 340 for 120 ids); vocoder: its graph
# is all frame-rate convolutions, so "mixed" would be bf16 under another name.
STAGE_PRECISIONS: dict[str, tuple[str, ...]] = {
    c.ACOUSTIC_MODEL: (c.PRECISION_F32, c.PRECISION_MIXED),
    c.VOCODER_MODEL: (c.PRECISION_F32, c.PRECISION_BF16),
}
# OpenVINO's runtime attribute that keeps a node in its own precision when the model is
# compiled for a lower inference precision (ov::disable_compression_to). Python cannot attach
# it to a node; the IR reader builds it from the layer's rt_info, so a "mixed" graph is written
# as IR with the attribute on every layer that must stay f32: no conversion from any type to
# bf16 or f16 (the CPU plugin checks the f16 entry for either low precision in some versions).
# Not "to any type": the plugin's own i64 → i32 conversion must still reach every node, or
# its shape arithmetic mixes both (Concat "element types are inconsistent" at compile).
OV_KEEP_PRECISION = ("DisablePrecisionConversion", "0", "dynamic:bf16,f16")
# /proc/cpuinfo flags that choose a stage runtime (tuning.auto_runtime): AVX-512, and native
# bfloat16 arithmetic.
RUNTIME_CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class CpuFeatures:
    """What this CPU offers a stage, read once per process."""

    flags: frozenset[str]  # the /proc/cpuinfo flags among RUNTIME_CPU_FLAGS
    openvino_bf16: bool  # OpenVINO's CPU plugin lists BF16 among its capabilities

    @property
    def bf16(self) -> bool:
        return self.openvino_bf16

    def describe(self) -> str:
        flags = ", ".join(sorted(self.flags)) or "none of " + ", ".join(RUNTIME_CPU_FLAGS)
        return f"bf16 {'available' if self.bf16 else 'not available'} (CPU flags: {flags})"


@functools.cache
def cpu_features() -> CpuFeatures:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    flags = {flag for line in text.splitlines() if line.startswith("flags")
             for flag in line.split(":", 1)[1].split() if flag in RUNTIME_CPU_FLAGS}
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
    output_names: tuple[str, ...]
    description: str
    # A new input shape costs a preparation several times a run (OpenVINO's CPU plugin prepares
    # its kernels per shape): callers keep to few shapes (stages.frame_bucket).
    prepares_per_shape: bool

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
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self.description = f"onnxruntime f32, {threads} threads"
        self.prepares_per_shape = False

    def output_dim(self, output: int, axis: int) -> int:
        return int(self.session.get_outputs()[output].shape[axis])

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, dict(feeds))


def stays_f32(name: str, op_type: str, scopes: Sequence[str],
              keep_ops: Sequence[str] = KEEP_FULL_PRECISION_OPS) -> bool:
    return op_type in keep_ops or not any(fnmatch.fnmatchcase(name, s) for s in scopes)


def write_mixed_ir(onnx_path: str | Path, xml_path: Path, scopes: Sequence[str]) -> int:
    """The ONNX graph as OpenVINO IR (xml_path and its .bin) with every layer outside `scopes`
    (or of a KEEP_FULL_PRECISION_OPS type) kept f32 under a bf16 inference precision; returns
    how many layers may run in bf16."""
    import xml.etree.ElementTree as ET

    import openvino as ov

    xml_path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.Core().read_model(str(onnx_path)), str(xml_path), compress_to_fp16=False)
    tree = ET.parse(xml_path)
    name, version, value = OV_KEEP_PRECISION
    reduced = 0
    for layer in tree.getroot().iter("layer"):
        if not stays_f32(layer.get("name", ""), layer.get("type", ""), scopes):
            reduced += 1
            continue
        rt_info = layer.find("rt_info")
        if rt_info is None:
            rt_info = ET.SubElement(layer, "rt_info")
        for old in rt_info.findall(f"attribute[@name='{name}']"):
            rt_info.remove(old)
        ET.SubElement(rt_info, "attribute", name=name, version=version, value=value)
    tree.write(xml_path)
    return reduced


class OpenVinoRunner:
    """A stage graph compiled by OpenVINO's CPU plugin for one request at a time on `threads`
    threads, in the precision this CPU allows."""

    def __init__(self, model_path: str | Path, threads: int, precision: Precision,
                 stage: str, features: CpuFeatures | None = None, polyphase: bool = True
                 ) -> None:
        """`polyphase`: False compiles transposed convolutions as OpenVINO's own op (what
        benchmarks/stage_graphs.py compares the rewrite against)."""
        import openvino as ov

        resolved = resolve_precision(precision, features or cpu_features())
        hint = "f32" if resolved.precision == c.PRECISION_F32 else "bf16"
        properties = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1,
                      "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": hint}
        core = ov.Core()
        if resolved.precision == c.PRECISION_MIXED:
            scopes = REDUCED_PRECISION_SCOPES[stage]
            with tempfile.TemporaryDirectory(prefix="tritontts-ir-") as folder:
                xml = Path(folder) / "model.xml"
                write_mixed_ir(model_path, xml, scopes)
                compiled = core.compile_model(read_for_openvino(core, xml, polyphase), "CPU",
                                              properties)
            leaked = bf16_layers_outside(compiled, scopes)
            if leaked:
                # Seen with OpenVINO 2026.4 on a CPU with AMX: fused nodes of the text encoder
                # and duration predictor drop the f32 marks, and 2 of 4 sample sentences came
                # out with other durations. f32 keeps the speech; the stage says why.
                resolved = Resolved(c.PRECISION_F32, (
                    f"mixed asked for, but OpenVINO {ov.__version__} computes {len(leaked)} "
                    f"layers outside the bf16 scopes in bf16 on this CPU (e.g. {leaked[0]}), "
                    "which moves durations: running in f32"))
                properties["INFERENCE_PRECISION_HINT"] = "f32"
                compiled = core.compile_model(read_for_openvino(core, model_path, polyphase),
                                              "CPU", properties)
        else:
            compiled = core.compile_model(read_for_openvino(core, model_path, polyphase), "CPU",
                                          properties)
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.outputs = compiled.outputs
        self.input_names = tuple(i.get_any_name() for i in compiled.inputs)
        self.output_names = tuple(o.get_any_name() for o in compiled.outputs)
        self.precision: Precision = resolved.precision
        self.fallback = resolved.fallback
        self.bf16_nodes = runtime_bf16_nodes(compiled)
        self.polyphase_layers = polyphase_layers(compiled)
        self.prepares_per_shape = True
        self.description = (f"openvino {resolved.precision} ({self.bf16_nodes} nodes run in "
                            f"bf16, {self.polyphase_layers} upsampling layers as polyphase "
                            f"convolutions), {threads} threads")

    def output_dim(self, output: int, axis: int) -> int:
        return self.outputs[output].get_partial_shape()[axis].get_length()

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        results = self.request.infer(dict(feeds))
        # The request reuses its output buffers on the next run: copy them out.
        return [np.array(results[output]) for output in self.outputs]


def bf16_layers_outside(compiled, scopes: Sequence[str]) -> list[str]:
    """The graph's own layers (named by path) outside `scopes` that the compiled graph runs in
    bf16: OpenVINO's execution graph names the layers each of its nodes came from."""
    leaked = []
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if info["runtimePrecision"].astype(str) != "bf16":
            continue
        for name in info["originalLayersNames"].astype(str).split(","):
            if name.startswith("/") and not any(fnmatch.fnmatchcase(name, s) for s in scopes):
                leaked.append(name)
    return leaked


def read_for_openvino(core, model_path: str | Path, polyphase: bool = True):
    """The graph in the form OpenVINO's CPU plugin runs fastest: its transposed convolutions
    rewritten as polyphase ones (polyphase.py says why)."""
    model = core.read_model(str(model_path))
    if polyphase:
        rewrite_transposed_convolutions(model)
    return model


def write_polyphase_ir(onnx_path: str | Path, xml_path: Path) -> int:
    """The ONNX graph as OpenVINO IR (xml_path and its .bin) with its transposed convolutions
    rewritten as polyphase ones, for a server that loads the file itself (Triton's OpenVINO
    backend); returns how many were rewritten, and writes nothing when none was."""
    import openvino as ov

    model = ov.Core().read_model(str(onnx_path))
    rewritten = rewrite_transposed_convolutions(model)
    if rewritten:
        xml_path.parent.mkdir(parents=True, exist_ok=True)
        ov.save_model(model, str(xml_path), compress_to_fp16=False)
    return rewritten


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
