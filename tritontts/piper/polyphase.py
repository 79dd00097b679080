"""The vocoder's upsampling layers rewritten for OpenVINO's CPU plugin: each transposed 1-D
convolution as an ordinary convolution over its `stride` output phases, then interleaved.

Why: OpenVINO 2026.4 runs ConvolutionBackpropData (ONNX ConvTranspose) on a plain JIT kernel
while its ordinary convolutions get the brgconv kernels (AMX where the CPU has it). Measured on
a 2-core Xeon with AMX, Piper's medium vocoder in bf16 spent 63% of its time in its three
transposed convolutions (41 of 65 ms per sentence); rewritten, the whole vocoder took 0.39× the
time in bf16 and 0.69× in f32 (docs/benchmarks-cpu.md). ONNX Runtime runs the original form
faster (the rewrite took it 1.24× longer), so only the OpenVINO runner applies it.

The rewrite is exact up to float rounding. A transposed convolution with kernel K, stride s,
pads p and output padding o computes

    y[c, t] = sum over i, j, k with j·s + k = t + p of x[i, j] · W[i, c, k]

Output sample t belongs to phase r = (t + p) mod s, which only ever meets the taps
k = r, r + s, r + 2s, ...: an ordinary convolution with M = ceil(K / s) taps per phase. All s
phases run as one convolution with s·C output channels (phase-major, taps reversed, zero where
r + m·s ≥ K, M - 1 zeros of padding on each side), whose output [s·C, T + M - 1] interleaved
to [C, (T + M - 1)·s] holds y shifted by p: slicing p from the front and M·s + p - K - o from
the back gives the transposed convolution's own output length (T - 1)·s - 2p + K + o.
"""

from __future__ import annotations

import math

import numpy as np

# ONNX's ConvTranspose arrives in OpenVINO as this op (its bias as an Add after it).
TRANSPOSED_CONV = "ConvolutionBackpropData"
# The name the phase convolution of a rewritten layer gets: the layer's own name + this.
PHASES_SUFFIX = "/phases"


def polyphase_weights(weights: np.ndarray, stride: int) -> np.ndarray:
    """ConvTranspose weights [C_in, C_out, K] as the phase convolution's [s·C_out, C_in, M]."""
    c_in, c_out, kernel = weights.shape
    taps = math.ceil(kernel / stride)
    phases = np.zeros((stride * c_out, c_in, taps), dtype=weights.dtype)
    for r in range(stride):
        for n in range(taps):
            k = r + (taps - 1 - n) * stride
            if k < kernel:
                phases[r * c_out:(r + 1) * c_out, :, n] = weights[:, :, k].T
    return phases


def _rewritable(node) -> bool:
    """A plain 1-D transposed convolution with constant weights: what Piper's vocoders have."""
    if node.get_type_name() != TRANSPOSED_CONV or node.get_input_size() != 2:
        return False  # a third input is an explicit output shape
    attributes = node.get_attributes()
    weights = node.input_value(1).get_node()
    return (weights.get_type_name() == "Constant" and len(weights.get_output_shape(0)) == 3
            and list(attributes["dilations"]) == [1] and attributes["auto_pad"] == "explicit"
            and list(attributes["pads_begin"]) == list(attributes["pads_end"]))


def rewrite_transposed_convolutions(model) -> int:
    """Replace, in an openvino.Model, every rewritable ConvolutionBackpropData by its polyphase
    convolution; returns how many were replaced (0 leaves the model as it was)."""
    import openvino.opset13 as ops

    replaced = 0
    for node in list(model.get_ordered_ops()):
        if not _rewritable(node):
            continue
        attributes = node.get_attributes()
        stride = int(attributes["strides"][0])
        pad = int(attributes["pads_begin"][0])
        output_padding = int((attributes.get("output_padding") or [0])[0])
        weights = node.input_value(1).get_node().get_data()
        _, channels, kernel = weights.shape
        taps = math.ceil(kernel / stride)
        name = node.get_friendly_name()
        phases = ops.convolution(
            node.input_value(0), ops.constant(polyphase_weights(weights, stride)),
            strides=[1], pads_begin=[taps - 1], pads_end=[taps - 1], dilations=[1],
            name=name + PHASES_SUFFIX)
        # [B, s·C, T'] → [B, s, C, T'] → [B, C, T', s] → [B, C, T'·s]
        split = ops.reshape(phases, ops.constant(np.array([0, stride, channels, -1], np.int64)),
                            special_zero=True)
        interleaved = ops.transpose(split, ops.constant(np.array([0, 2, 3, 1], np.int64)))
        joined = ops.reshape(interleaved, ops.constant(np.array([0, channels, -1], np.int64)),
                             special_zero=True)
        tail = taps * stride + pad - kernel - output_padding
        stop = -tail if tail > 0 else np.iinfo(np.int64).max
        cropped = ops.slice(joined, ops.constant(np.array([pad], np.int64)),
                            ops.constant(np.array([stop], np.int64)),
                            ops.constant(np.array([1], np.int64)),
                            ops.constant(np.array([2], np.int64)), name=f"{name}/interleaved")
        node.output(0).replace(cropped.output(0))
        replaced += 1
    if replaced:
        model.validate_nodes_and_infer_types()
    return replaced


def polyphase_layers(compiled) -> int:
    """Upsampling layers of a compiled model that run as polyphase convolutions (OpenVINO's
    execution graph names the layers each of its nodes came from)."""
    names = set()
    for op in compiled.get_runtime_model().get_ops():
        for name in op.get_rt_info()["originalLayersNames"].astype(str).split(","):
            if name.endswith(PHASES_SUFFIX):
                names.add(name)
    return len(names)
