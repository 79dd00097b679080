"""Cut a Piper (VITS) voice graph into the `acoustic` and `vocoder` stages.

VITS runs text encoder → duration predictor → flow → HiFi-GAN decoder in one graph. The cut is
made at the decoder's input, the tensor that feeds `dec.conv_pre`: everything before it is the
acoustic stage ("text2mel": phoneme ids → latent frames), everything after it the vocoder
(latent frames → waveform). Each edit is a small function that either does its job or raises
with what it could not find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from tritontts.errors import TritonTTSError
from tritontts.piper.voice import (
    PIPER_PHONEME_IDS,
    PIPER_PHONEME_LENGTHS,
    PIPER_SCALES,
    PIPER_SPEAKER_ID,
)
from tritontts_client import contract as c
from tritontts_client.contract import PHONEME_DURATIONS

# Piper's exported input names and the names the stages expose instead.
ACOUSTIC_INPUT_NAMES = {PIPER_PHONEME_IDS: c.PHONEME_IDS.name,
                        PIPER_PHONEME_LENGTHS: c.PHONEME_LENGTHS.name,
                        PIPER_SCALES: c.SCALES.name, PIPER_SPEAKER_ID: c.SPEAKER_ID.name}
# The first layer of the HiFi-GAN decoder; its input is where the graph is cut.
DECODER_WEIGHT = "dec.conv_pre.weight"


class GraphSurgeryError(TritonTTSError):
    """The graph does not have the shape of a Piper VITS voice."""


@dataclass(frozen=True)
class StageGraphs:
    acoustic: onnx.ModelProto
    vocoder: onnx.ModelProto
    latent_channels: int


def split_piper_voice(model: onnx.ModelProto) -> StageGraphs:
    """Return the acoustic and vocoder graphs of a Piper voice graph."""
    acoustic = gs.import_onnx(model)
    vocoder = gs.import_onnx(model)

    conv_pre = _decoder_entry(acoustic)
    latent = conv_pre.inputs[0]
    mask = _latent_mask(latent)
    latent_channels = int(conv_pre.inputs[1].values.shape[1])

    # Multi-speaker voices also condition the decoder on the speaker embedding.
    crossing = _decoder_inputs(acoustic, conv_pre)
    embedding = [t for t in crossing if t is not latent]
    if len(embedding) > 1:
        raise GraphSurgeryError(f"decoder takes unexpected inputs {[t.name for t in embedding]}")

    _rename_inputs(acoustic)
    _batch_scales(acoustic)
    frame_lengths = _frame_lengths(acoustic, mask)
    durations = _phoneme_durations(acoustic)
    latent.name = c.LATENT.name
    latent.dtype, latent.shape = np.float32, ["batch", latent_channels, "frames"]
    acoustic.outputs = [latent, frame_lengths, durations]
    if embedding:
        embedding[0].name = c.SPEAKER_EMBEDDING.name
        embedding[0].dtype, embedding[0].shape = np.float32, ["batch", "embedding", 1]
        acoustic.outputs.append(embedding[0])
    _finish(acoustic)

    v_conv_pre = _decoder_entry(vocoder)
    v_latent = v_conv_pre.inputs[0]
    v_embedding = [t for t in _decoder_inputs(vocoder, v_conv_pre) if t is not v_latent]
    v_latent.name = c.LATENT.name
    new_inputs = [v_latent]
    for tensor in v_embedding:
        tensor.name = c.SPEAKER_EMBEDDING.name
        new_inputs.append(tensor)
    for tensor in new_inputs:
        tensor.inputs.clear()
        tensor.dtype = np.float32
    v_latent.shape = ["batch", latent_channels, "frames"]
    for tensor in v_embedding:
        tensor.shape = ["batch", "embedding", 1]
    vocoder.inputs = new_inputs
    vocoder.outputs = [_flatten_waveform(vocoder)]
    _finish(vocoder)
    _require_only_inputs(vocoder)

    return StageGraphs(_export(acoustic, c.ACOUSTIC_MODEL), _export(vocoder, c.VOCODER_MODEL),
                       latent_channels)


def _decoder_entry(graph: gs.Graph) -> gs.Node:
    for node in graph.nodes:
        if node.op == "Conv" and len(node.inputs) > 1 and node.inputs[1].name == DECODER_WEIGHT:
            return node
    raise GraphSurgeryError(f"no Conv with weight {DECODER_WEIGHT!r}: not a Piper VITS graph")


def _latent_mask(latent: gs.Variable) -> gs.Tensor:
    """The decoder input is `z * y_mask`; the mask [B, 1, T] gives the frame count of each item."""
    if not latent.inputs or latent.inputs[0].op != "Mul":
        raise GraphSurgeryError(f"decoder input {latent.name} is not the masked latent z * y_mask")
    mul = latent.inputs[0]
    for candidate in mul.inputs:
        if candidate.inputs and candidate.inputs[0].op == "Cast":
            return candidate
    raise GraphSurgeryError("found no frame mask (a Cast) feeding the decoder input")


def _decoder_nodes(graph: gs.Graph) -> list[gs.Node]:
    return [n for n in graph.nodes if n.name.startswith("/dec/")]


def _decoder_inputs(graph: gs.Graph, conv_pre: gs.Node) -> list[gs.Variable]:
    nodes = _decoder_nodes(graph)
    if conv_pre not in nodes:
        raise GraphSurgeryError("decoder nodes are not named /dec/...: cannot find the cut")
    produced = {id(t) for n in nodes for t in n.outputs}
    crossing: list[gs.Variable] = []
    for node in nodes:
        for tensor in node.inputs:
            if isinstance(tensor, gs.Variable) and id(tensor) not in produced \
                    and tensor not in crossing:
                crossing.append(tensor)
    return crossing


def _rename_inputs(graph: gs.Graph) -> None:
    for tensor in graph.inputs:
        tensor.name = ACOUSTIC_INPUT_NAMES.get(tensor.name, tensor.name)


def _batch_scales(graph: gs.Graph) -> int:
    """Piper takes one `scales` vector [3] for the whole batch; make it one row per item
    [batch, 3], so that requests with different speeds or noise can share a batch (Triton's
    dynamic batcher, TensorRT engines). Each `Gather(scales, i)` scalar becomes that item's
    column, shaped [batch, 1, 1] to broadcast over the [batch, channels, time] tensors it scales.
    Returns how many reads were rewritten."""
    scales = next((t for t in graph.inputs if t.name == c.SCALES.name), None)
    if scales is None:
        raise GraphSurgeryError("no `scales` input: not a Piper VITS graph")
    readers = [n for n in graph.nodes if n.op == "Gather" and n.inputs[0] is scales]
    if len(readers) != len(scales.outputs):
        raise GraphSurgeryError("`scales` is read other than by Gather: cannot batch it")
    axes = gs.Constant("scales_broadcast_axes", np.array([1, 2], dtype=np.int64))
    for number, gather in enumerate(readers):
        column = gs.Variable(f"scales_column_{number}", dtype=np.float32)
        (scalar,) = gather.outputs
        gather.attrs["axis"] = 1
        gather.outputs = [column]
        scalar.shape = None  # no longer a scalar: let shape inference say [batch, 1, 1]
        graph.nodes.append(gs.Node("Unsqueeze", f"scales_item_{number}",
                                   inputs=[column, axes], outputs=[scalar]))
    scales.shape = ["batch", 3]
    return len(readers)


def _frame_lengths(graph: gs.Graph, mask: gs.Tensor) -> gs.Variable:
    axes = gs.Constant("frame_axes", np.array([1, 2], dtype=np.int64))
    summed = gs.Variable("frame_count_float", dtype=np.float32)
    graph.nodes.append(gs.Node("ReduceSum", "frame_count", attrs={"keepdims": 0},
                               inputs=[mask, axes], outputs=[summed]))
    lengths = gs.Variable(c.FRAME_LENGTHS.name, dtype=np.int64, shape=["batch"])
    graph.nodes.append(gs.Node("Cast", "frame_lengths_int64", attrs={"to": onnx.TensorProto.INT64},
                               inputs=[summed], outputs=[lengths]))
    return lengths


def _phoneme_durations(graph: gs.Graph) -> gs.Variable:
    """Frames per phoneme id [batch, phonemes] (zero on padding): VITS's `w_ceil`, the ceil'd
    durations [B, 1, L] that both the frame count (ReduceSum) and the alignment (CumSum) are
    built from, so the durations of a chunk sum to its frame_lengths."""
    ceils = [n for n in graph.nodes if n.op == "Ceil"
             and {"ReduceSum", "CumSum"} <= {consumer.op for consumer in n.outputs[0].outputs}]
    if len(ceils) != 1:
        raise GraphSurgeryError(f"expected one Ceil of the durations feeding ReduceSum and "
                                f"CumSum, found {len(ceils)}: not a Piper VITS graph")
    (w_ceil,) = ceils[0].outputs
    flat = gs.Variable("phoneme_durations_float", dtype=np.float32)
    graph.nodes.append(gs.Node("Flatten", "phoneme_durations_flatten", attrs={"axis": 1},
                               inputs=[w_ceil], outputs=[flat]))
    durations = gs.Variable(PHONEME_DURATIONS.name, dtype=np.int64, shape=["batch", "phonemes"])
    graph.nodes.append(gs.Node("Cast", "phoneme_durations_int64",
                               attrs={"to": onnx.TensorProto.INT64},
                               inputs=[flat], outputs=[durations]))
    return durations


def _flatten_waveform(graph: gs.Graph) -> gs.Variable:
    """Piper emits [B, 1, 1, samples]; the vocoder stage emits [B, samples]."""
    (original,) = graph.outputs
    waveform = gs.Variable(c.WAVEFORM.name, dtype=np.float32, shape=["batch", "samples"])
    graph.nodes.append(gs.Node("Flatten", "waveform_flatten", attrs={"axis": 1},
                               inputs=[original], outputs=[waveform]))
    return waveform


def _finish(graph: gs.Graph) -> None:
    graph.cleanup(remove_unused_graph_inputs=True).toposort()
    graph.fold_constants().cleanup()


def _require_only_inputs(graph: gs.Graph) -> None:
    sources = {t.name for t in graph.inputs}
    for node in graph.nodes:
        for tensor in node.inputs:
            if isinstance(tensor, gs.Variable) and not tensor.inputs and tensor.name \
                    and tensor.name not in sources:
                raise GraphSurgeryError(f"vocoder still depends on {tensor.name!r}")


def _export(graph: gs.Graph, name: str) -> onnx.ModelProto:
    graph.name = name
    model = gs.export_onnx(graph)
    onnx.checker.check_model(model)
    return model
