"""The vocoder's transposed convolutions as polyphase convolutions (tritontts/piper/polyphase.py):
the same output as ONNX Runtime's ConvTranspose for every kernel, stride, padding and length
that HiFi-GAN upsampling uses and a few it does not, and on the bundled voice's vocoder."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import openvino as ov
import pytest
from onnx import TensorProto, helper

from tritontts.piper.polyphase import TRANSPOSED_CONV, rewrite_transposed_convolutions
from tritontts.piper.runtimes import OpenVinoRunner, ort_session, read_for_openvino
from tritontts.piper.voice import ExportedVoice
from tritontts_client import contract as c

F32 = {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}


def transposed_conv_model(c_in: int, c_out: int, kernel: int, stride: int, pad: int,
                          output_padding: int = 0, bias: bool = True, dilation: int = 1,
                          seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    weights = helper.make_tensor("w", TensorProto.FLOAT, (c_in, c_out, kernel),
                                 rng.standard_normal((c_in, c_out, kernel)).ravel().tolist())
    initializers = [weights]
    inputs = ["x", "w"]
    if bias:
        initializers.append(helper.make_tensor("b", TensorProto.FLOAT, (c_out,),
                                               rng.standard_normal(c_out).tolist()))
        inputs.append("b")
    node = helper.make_node("ConvTranspose", inputs, ["y"], kernel_shape=[kernel],
                            strides=[stride], pads=[pad, pad], dilations=[dilation],
                            output_padding=[output_padding])
    graph = helper.make_graph(
        [node], "up", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", c_in, "t"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def run_both(model: onnx.ModelProto, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """ONNX Runtime on the original; OpenVINO on the rewritten graph; how many were rewritten."""
    reference = ort.InferenceSession(model.SerializeToString(),
                                     providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    core = ov.Core()
    graph = core.read_model(model.SerializeToString(), b"")
    replaced = rewrite_transposed_convolutions(graph)
    rewritten = np.array(core.compile_model(graph, "CPU", F32).create_infer_request()
                         .infer({"x": x})[0])
    return reference, rewritten, replaced


@pytest.mark.parametrize(("kernel", "stride", "pad", "output_padding"), [
    (16, 8, 4, 0),   # HiFi-GAN's ×8 upsampling (Piper medium)
    (8, 4, 2, 0),    # ×4
    (4, 2, 1, 0),    # ×2
    (11, 5, 3, 0),   # kernel not a multiple of the stride
    (7, 3, 0, 2),    # no padding, output padding
    (3, 4, 1, 1),    # kernel shorter than the stride: some phases have no tap
])
@pytest.mark.parametrize("frames", [1, 2, 37])
def test_the_rewrite_computes_the_transposed_convolution(kernel: int, stride: int, pad: int,
                                                         output_padding: int,
                                                         frames: int) -> None:
    model = transposed_conv_model(6, 5, kernel, stride, pad, output_padding)
    x = np.random.default_rng(frames).standard_normal((2, 6, frames)).astype(np.float32)
    reference, rewritten, replaced = run_both(model, x)
    assert replaced == 1
    assert rewritten.shape == reference.shape
    np.testing.assert_allclose(rewritten, reference, rtol=1e-5, atol=1e-5)


def test_layers_it_does_not_cover_are_left_as_they_are() -> None:
    """A dilated transposed convolution keeps OpenVINO's own op (and its own result)."""
    model = transposed_conv_model(4, 3, 5, 2, 1, dilation=2)
    x = np.random.default_rng(1).standard_normal((1, 4, 9)).astype(np.float32)
    reference, rewritten, replaced = run_both(model, x)
    assert replaced == 0
    np.testing.assert_allclose(rewritten, reference, rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # OpenVINO compiles the voice's vocoder
def test_the_voice_vocoder_runs_no_transposed_convolution_and_the_same_audio(
        exported_voice: ExportedVoice) -> None:
    core = ov.Core()
    graph = read_for_openvino(core, exported_voice.vocoder)
    assert not [op for op in graph.get_ops() if op.get_type_name() == TRANSPOSED_CONV]
    runner = OpenVinoRunner(exported_voice.vocoder, 1, c.PRECISION_F32, c.VOCODER_MODEL)
    # Piper's medium voices upsample ×8, ×8, ×4; the execution graph says all three were rewritten.
    assert runner.polyphase_layers == 3, runner.description
    latent = np.random.default_rng(2).standard_normal(
        (2, exported_voice.latent_channels, 50)).astype(np.float32)
    reference = ort_session(exported_voice.vocoder, 1).run(None, {c.LATENT.name: latent})[0]
    (waveform,) = runner.run({c.LATENT.name: latent})
    assert waveform.shape == reference.shape == (2, 50 * exported_voice.hop_length)
    np.testing.assert_allclose(waveform, reference, atol=1e-4)
