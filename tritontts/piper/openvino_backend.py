"""The ngc-cpu profile: the stage graphs on Triton's own OpenVINO backend, for a CPU-only
deployment of the NGC tritonserver container (which ships that backend).

The models around the stages are the gpu profile's (python text and audio models, length
buckets so that requests meet in the stages' batches: a native backend batches only equal
shapes); `acoustic` and `vocoder` become `backend: "openvino"` models on KIND_CPU instances.
Precision: f32 serves acoustic's ONNX graph as it is; bf16 adds the backend's HINT_BF16; the
mixed acoustic stage is served as OpenVINO IR (model.xml / model.bin) whose layers outside the
flow's convolutions carry OpenVINO's keep-precision attribute, so that HINT_BF16 reduces only
those (runtimes.write_mixed_ir). The vocoder is served as IR too, its transposed convolutions
rewritten as the polyphase convolutions OpenVINO's CPU plugin runs faster (polyphase.py). A
CPU without native bf16 runs the graph in f32 either way (OpenVINO ignores the hint there); the
render host cannot tell the serving host's CPU, so the deployment's tritonserver log
(OpenVINO's) is where to check.

This profile needs the NGC container; tests render every config and parse it with Triton's
schema.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tritontts.piper.frontend import GPU_LIMITS, FrontendLimits
from tritontts.piper.gpu import gpu_models
from tritontts.piper.runtimes import (
    REDUCED_PRECISION_SCOPES,
    check_choice,
    write_mixed_ir,
    write_polyphase_ir,
)
from tritontts.piper.tuning import GpuTuning, StageTuning
from tritontts.piper.voice import ExportedVoice
from tritontts.repository.schema import GraphModel, Model
from tritontts_client import contract as c

__all__ = ["OpenVinoBackendTuning", "openvino_backend_models"]


# One instance per stage, threads left to OpenVINO (0: all cores).
OPENVINO_STAGE = StageTuning(instances=1, threads=0, runtime=c.RUNTIME_OPENVINO)


@dataclass(frozen=True)
class OpenVinoBackendTuning(GpuTuning):
    """One instance per stage, one OpenVINO stream, threads left to OpenVINO (0: all cores),
    and the python models as on a small CPU host."""

    acoustic: StageTuning = OPENVINO_STAGE
    vocoder: StageTuning = OPENVINO_STAGE
    frontend_instances: int = 1
    postprocess_instances: int = 1
    # Where a stage's IR is written when its precision needs one (mixed).
    ir_dir: Path = field(default=Path("build/openvino"))

    def with_precisions(self, acoustic: str, vocoder: str) -> OpenVinoBackendTuning:
        return dataclasses.replace(
            self, acoustic=dataclasses.replace(self.acoustic, precision=acoustic),
            vocoder=dataclasses.replace(self.vocoder, precision=vocoder))


def openvino_backend_models(voice: ExportedVoice, onnx_graphs: Mapping[str, Path],
                            tuning: OpenVinoBackendTuning | None = None,
                            limits: FrontendLimits = GPU_LIMITS,
                            lexicon: Path | None = None) -> list[Model]:
    """onnx_graphs: {"acoustic": path, "vocoder": path}, the graphs each stage serves."""
    tuning = tuning or OpenVinoBackendTuning()
    models = gpu_models(voice, onnx_graphs, None, tuning, limits, lexicon)
    return [_on_openvino(m, voice, onnx_graphs[m.name], tuning)
            if isinstance(m, GraphModel) else m for m in models]


def _on_openvino(model: GraphModel, voice: ExportedVoice, graph: Path,
                 tuning: OpenVinoBackendTuning) -> GraphModel:
    settings = tuning.stage(model.name)
    check_choice(model.name, c.RUNTIME_OPENVINO, settings.precision)
    parameters = {c.OV_NUM_STREAMS: "1", c.OV_PERFORMANCE_HINT: "LATENCY"}
    if settings.threads:
        parameters[c.OV_INFERENCE_NUM_THREADS] = str(settings.threads)
    if settings.precision != c.PRECISION_F32:
        parameters[c.OV_HINT_BF16] = "YES"
    xml = tuning.ir_dir / voice.name / model.name / c.OV_IR_FILENAME
    if settings.precision == c.PRECISION_MIXED:
        write_mixed_ir(graph, xml, REDUCED_PRECISION_SCOPES[model.name])
        as_ir = True
    else:
        as_ir = write_polyphase_ir(graph, xml) > 0
    if as_ir:
        filename = c.OV_IR_FILENAME
        files = {c.OV_IR_FILENAME: xml, c.OV_IR_WEIGHTS: xml.with_suffix(".bin")}
    else:
        filename, files = c.ONNX_FILENAME, {c.ONNX_FILENAME: graph}
    return dataclasses.replace(model, platform=c.OPENVINO_BACKEND, kind="KIND_CPU",
                               default_model_filename=filename, files=files,
                               parameters=parameters, cuda_graph_shapes=())
