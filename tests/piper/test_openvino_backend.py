"""The ngc-cpu profile: the stages on Triton's own OpenVINO backend. Served only by the NGC
container; here every config renders, parses with Triton's schema and says what we mean, and
the IR written for the mixed acoustic stage and the polyphase vocoder are graphs OpenVINO reads
and runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import pytest
from tritonclient.grpc import model_config_pb2 as mc

from tritontts.errors import UsageError
from tritontts.piper.openvino_backend import OpenVinoBackendTuning, openvino_backend_models
from tritontts.piper.polyphase import TRANSPOSED_CONV
from tritontts.piper.runtimes import ort_session
from tritontts.piper.voice import ExportedVoice
from tritontts.repository import parse, render, write_repository
from tritontts_client import contract as c


def graphs(voice: ExportedVoice) -> dict[str, Path]:
    return {c.ACOUSTIC_MODEL: voice.acoustic, c.VOCODER_MODEL: voice.vocoder}


def test_f32_stages_serve_the_onnx_graphs_on_cpu_instances(exported_voice: ExportedVoice,
                                                           tmp_path: Path) -> None:
    tuning = OpenVinoBackendTuning(ir_dir=tmp_path / "ir")
    models = openvino_backend_models(exported_voice, graphs(exported_voice), tuning)
    configs = {m.name: parse(render(m)) for m in models}
    assert {"frontend", "acoustic", "vocoder", "postprocess", "tts"} <= set(configs)
    for stage in c.STAGES:
        config = configs[stage]
        assert config.backend == c.OPENVINO_BACKEND and not config.platform
        assert config.instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU
        parameters = {k: v.string_value for k, v in config.parameters.items()}
        assert parameters == {c.OV_NUM_STREAMS: "1", c.OV_PERFORMANCE_HINT: "LATENCY"}
        assert config.max_batch_size > 0 and config.HasField("dynamic_batching")
    assert configs["frontend"].backend == "python"
    # acoustic as exported; the vocoder as IR with its upsampling as polyphase convolutions.
    assert configs[c.ACOUSTIC_MODEL].default_model_filename == c.ONNX_FILENAME
    assert configs[c.VOCODER_MODEL].default_model_filename == c.OV_IR_FILENAME
    repository = write_repository(models, tmp_path / "repo")
    assert (repository / c.ACOUSTIC_MODEL / "1" / c.ONNX_FILENAME).is_file()
    version = repository / c.VOCODER_MODEL / "1"
    # The IR the backend would load: no transposed convolution left, the ONNX graph's audio.
    ir = ov.Core().read_model(str(version / c.OV_IR_FILENAME))
    assert not [op for op in ir.get_ops() if op.get_type_name() == TRANSPOSED_CONV]
    latent = np.random.default_rng(0).standard_normal(
        (1, exported_voice.latent_channels, 20)).astype(np.float32)
    compiled = ov.Core().compile_model(ir, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    reference = ort_session(exported_voice.vocoder, 1).run(None, {c.LATENT.name: latent})[0]
    np.testing.assert_allclose(compiled({c.LATENT.name: latent})[0], reference, atol=1e-4)


def test_bf16_precisions_hint_bf16_and_ship_the_mixed_acoustic_as_ir(
        exported_voice: ExportedVoice, tmp_path: Path) -> None:
    tuning = OpenVinoBackendTuning(ir_dir=tmp_path / "ir").with_precisions(
        c.PRECISION_MIXED, c.PRECISION_BF16)
    models = openvino_backend_models(exported_voice, graphs(exported_voice), tuning)
    configs = {m.name: parse(render(m)) for m in models}
    for stage in c.STAGES:
        assert configs[stage].parameters[c.OV_HINT_BF16].string_value == "YES"
    assert configs[c.VOCODER_MODEL].default_model_filename == c.OV_IR_FILENAME
    assert configs[c.ACOUSTIC_MODEL].default_model_filename == c.OV_IR_FILENAME
    repository = write_repository(models, tmp_path / "repo")
    version = repository / c.ACOUSTIC_MODEL / "1"
    assert (version / c.OV_IR_WEIGHTS).is_file()
    # The IR the backend would load: it runs, and gives the ONNX graph's frame count.
    compiled = ov.Core().compile_model(str(version / c.OV_IR_FILENAME), "CPU")
    ids = np.array([[1, 0, 20, 0, 30, 0, 40, 0, 2]], dtype=np.int64)
    feeds = {c.PHONEME_IDS.name: ids, c.PHONEME_LENGTHS.name: np.array([9]),
             c.SCALES.name: np.array([[0.0, 1.0, 0.0]], dtype=np.float32)}
    reference = ov.Core().compile_model(str(exported_voice.acoustic), "CPU")
    frames = compiled(feeds)[compiled.outputs[1]]
    assert int(frames[0]) == int(reference(feeds)[reference.outputs[1]][0])


def test_the_backend_refuses_a_precision_that_changes_the_speech(
        exported_voice: ExportedVoice, tmp_path: Path) -> None:
    tuning = OpenVinoBackendTuning(ir_dir=tmp_path).with_precisions(c.PRECISION_BF16,
                                                                    c.PRECISION_BF16)
    with pytest.raises(UsageError, match="changes the durations"):
        openvino_backend_models(exported_voice, graphs(exported_voice), tuning)
