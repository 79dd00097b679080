"""The acoustic → vocoder split reproduces the original Piper voice graph."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from tritontts.export.piper import GraphSurgeryError, split_piper_voice
from tritontts.export.voice import PARITY_TOLERANCE, default_voice, parity_max_abs_diff
from tritontts.piper.frontend import TextFrontend
from tritontts.piper.stages import AcousticStage
from tritontts.piper.voice import ExportedVoice, PiperVoiceConfig

HELD_OUT = [
    "The quick brown fox jumps over the lazy dog.",
    "Would you like to hear the weather forecast for tomorrow morning?",
    "Numbers like seven hundred and twelve are read in words.",
]


def test_stage_graphs_have_named_tensors(exported_voice: ExportedVoice) -> None:
    acoustic = onnx.load(str(exported_voice.acoustic))
    vocoder = onnx.load(str(exported_voice.vocoder))
    onnx.checker.check_model(acoustic)
    onnx.checker.check_model(vocoder)
    assert [i.name for i in acoustic.graph.input] == ["phoneme_ids", "phoneme_lengths", "scales"]
    assert [o.name for o in acoustic.graph.output] == ["latent", "frame_lengths",
                                                       "phoneme_durations"]
    assert [i.name for i in vocoder.graph.input] == ["latent"]
    assert [o.name for o in vocoder.graph.output] == ["waveform"]
    # The decoder lives only in the vocoder; encoder, duration predictor and flow only in the
    # acoustic stage.
    acoustic_parts = ("/enc_p/", "/dp/", "/flow/")
    assert not any(n.name.startswith("/dec/") for n in acoustic.graph.node)
    assert any(n.name.startswith(acoustic_parts) for n in acoustic.graph.node)
    assert not any(n.name.startswith(acoustic_parts) for n in vocoder.graph.node)


def test_durations_sum_to_each_chunks_frames(exported_voice: ExportedVoice) -> None:
    """Several chunks of different lengths in one padded batch, the voice's own noise: every
    chunk's frames per id add up to its frame count, and padding lasts no frames."""
    frontend = TextFrontend(PiperVoiceConfig.load(exported_voice.config))
    batch = frontend.encode(" ".join(HELD_OUT) + " Yes.")
    scales = np.tile(np.array([0.667, 1.0, 0.8], np.float32), (batch.chunks, 1))
    stage = AcousticStage(exported_voice.acoustic, max_batch=batch.chunks)
    latent, frames, durations, _ = stage.run(batch.ids, batch.lengths, scales)
    assert batch.chunks == 4 and len(set(batch.lengths.tolist())) == 4
    assert durations.shape == batch.ids.shape and durations.dtype == np.int64
    np.testing.assert_array_equal(durations.sum(axis=1), frames)
    for row, length in enumerate(batch.lengths.tolist()):
        assert (durations[row, length:] == 0).all()
        assert (durations[row, :length] >= 0).all() and durations[row, :length].max() > 0
    # The graph's own output (not the runner's trimming) already holds zeros on padding.
    feeds = {"phoneme_ids": batch.ids, "phoneme_lengths": batch.lengths, "scales": scales}
    named = dict(zip(stage.runner.output_names, stage.runner.run(feeds), strict=True))
    graph_frames, graph_durations = named["frame_lengths"], named["phoneme_durations"]
    np.testing.assert_array_equal(graph_durations.sum(axis=1), graph_frames)
    assert latent.shape[-1] == frames.max()


def test_manifest(exported_voice: ExportedVoice) -> None:
    loaded = ExportedVoice.load(exported_voice.directory)
    assert loaded == exported_voice
    assert (loaded.sample_rate, loaded.hop_length, loaded.latent_channels) == (22050, 256, 192)


@pytest.mark.parametrize("text", HELD_OUT)
def test_split_matches_original_graph(exported_voice: ExportedVoice, text: str) -> None:
    model_path, config_path = default_voice()
    diff = parity_max_abs_diff(model_path, exported_voice, PiperVoiceConfig.load(config_path),
                               text)
    assert diff <= PARITY_TOLERANCE


def test_rejects_a_graph_that_is_not_vits() -> None:
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    with pytest.raises(GraphSurgeryError, match=r"dec\.conv_pre\.weight"):
        split_piper_voice(onnx.helper.make_model(graph))


def test_parity_diff_is_measured_not_assumed(exported_voice: ExportedVoice) -> None:
    """The parity check can fail: a vocoder with perturbed weights is caught."""
    model_path, config_path = default_voice()
    vocoder = onnx.load(str(exported_voice.vocoder))
    weight = next(t for t in vocoder.graph.initializer if t.name == "dec.conv_pre.bias")
    values = onnx.numpy_helper.to_array(weight) + np.float32(0.05)
    weight.CopyFrom(onnx.numpy_helper.from_array(values, weight.name))
    broken_dir = exported_voice.directory.parent / "broken"
    broken_dir.mkdir(exist_ok=True)
    for name in (ExportedVoice.ACOUSTIC, ExportedVoice.CONFIG):
        target = broken_dir / name
        if not target.exists():
            target.symlink_to(exported_voice.directory / name)
    onnx.save(vocoder, str(broken_dir / ExportedVoice.VOCODER))
    broken = ExportedVoice(**{**exported_voice.__dict__, "directory": broken_dir})
    diff = parity_max_abs_diff(model_path, broken, PiperVoiceConfig.load(config_path))
    assert diff > PARITY_TOLERANCE
