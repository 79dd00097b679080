"""The gpu profile: every config renders, parses with Triton's schema and says what we mean.
It cannot be served without a GPU; what a CPU can check is checked here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from tritonclient.grpc import model_config_pb2 as mc

from tritontts.piper.frontend import GPU_LIMITS, TextFrontend
from tritontts.piper.gpu import GpuTuning, gpu_models, stream_window_frames
from tritontts.piper.voice import ExportedVoice, PiperVoiceConfig
from tritontts.piper.windows import WindowPlan
from tritontts.repository import GraphModel, RenderError, parse, render, write_repository
from tritontts.repository.engines import StagePlans


def configs(models) -> dict[str, mc.ModelConfig]:
    return {m.name: parse(render(m)) for m in models}


@pytest.fixture(scope="module")
def fake_plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StagePlans]:
    """Engine files as `make export ENGINES=1` lays them out (contents are not read here)."""
    root = tmp_path_factory.mktemp("engines")
    plans = {}
    for stage in ("acoustic", "vocoder"):
        folder = root / stage / "1"
        folder.mkdir(parents=True)
        for name in ("model.plan", "model_sm80.plan", "model_sm90.plan"):
            (folder / name).write_bytes(b"engine")
        plans[stage] = StagePlans(folder, {"8.0": "model_sm80.plan", "9.0": "model_sm90.plan"})
    return plans


def graphs(voice: ExportedVoice) -> dict[str, Path]:
    return {"acoustic": voice.acoustic, "vocoder": voice.vocoder}


def test_tensorrt_plans_on_gpu_instances(exported_voice: ExportedVoice,
                                         fake_plans: dict[str, StagePlans]) -> None:
    found = configs(gpu_models(exported_voice, graphs(exported_voice), fake_plans))
    assert set(found) == {"frontend", "acoustic", "vocoder", "postprocess", "tts", "tts_cached",
                          "tts_stream"}
    tuning = GpuTuning()
    for stage in ("acoustic", "vocoder"):
        config = found[stage]
        assert config.platform == "tensorrt_plan"
        assert config.default_model_filename == "model.plan"
        assert dict(config.cc_model_filenames) == {"8.0": "model_sm80.plan",
                                                   "9.0": "model_sm90.plan"}
        assert config.max_batch_size == GPU_LIMITS.max_chunks
        assert config.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU
        assert config.instance_group[0].count == 2
        assert list(config.dynamic_batching.preferred_batch_size) == list(
            tuning.preferred_batch_sizes)
        assert config.version_policy.latest.num_versions == 1
        assert len(config.model_warmup) == 1
    # The python models around the graphs stay on CPU cores.
    for name in ("frontend", "postprocess", "tts_stream"):
        assert found[name].backend == "python"
        assert found[name].instance_group[0].kind == mc.ModelInstanceGroup.KIND_CPU


def test_batched_shapes_match_the_graphs(exported_voice: ExportedVoice) -> None:
    acoustic = configs(gpu_models(exported_voice, graphs(exported_voice)))["acoustic"]
    inputs = {i.name: i for i in acoustic.input}
    # Per-item lengths travel as [n, 1] in the ensemble and are [n] in the graph.
    assert inputs["phoneme_lengths"].HasField("reshape")
    assert list(inputs["phoneme_lengths"].reshape.shape) == []
    assert list(inputs["scales"].dims) == [3]
    outputs = {o.name: o for o in acoustic.output}
    assert outputs["frame_lengths"].HasField("reshape")
    assert list(outputs["latent"].dims) == [exported_voice.latent_channels, -1]
    # Frames per phoneme id, [batch, phonemes] in the graph: the word timestamps' source.
    assert outputs["phoneme_durations"].data_type == mc.TYPE_INT64
    assert list(outputs["phoneme_durations"].dims) == [-1]


def test_without_engines_onnx_runtime_serves_the_graphs(exported_voice: ExportedVoice) -> None:
    found = configs(gpu_models(exported_voice, graphs(exported_voice)))
    for stage in ("acoustic", "vocoder"):
        assert found[stage].platform == "onnxruntime_onnx"
        assert found[stage].default_model_filename == "model.onnx"
        assert not found[stage].optimization.cuda.graphs  # a TensorRT backend feature


def test_cuda_graphs_for_streaming_windows(exported_voice: ExportedVoice,
                                           fake_plans: dict[str, StagePlans]) -> None:
    vocoder = configs(gpu_models(exported_voice, graphs(exported_voice), fake_plans))["vocoder"]
    assert vocoder.optimization.cuda.graphs
    captured = [list(spec.input["latent"].dim) for spec in vocoder.optimization.cuda.graph_spec]
    expected = stream_window_frames(WindowPlan())
    assert captured == [[exported_voice.latent_channels, n] for n in expected]
    # The first window (32 frames + 16 of right context) is the one first audio waits for.
    assert expected[0] == WindowPlan().first_frames + WindowPlan().context_frames


def test_ensemble_feeds_the_vocoder_only_what_it_takes(exported_voice: ExportedVoice) -> None:
    tts = configs(gpu_models(exported_voice, graphs(exported_voice)))["tts"]
    step = next(s for s in tts.ensemble_scheduling.step if s.model_name == "vocoder")
    assert dict(step.input_map) == {"latent": "latent"}


def test_frontend_pads_to_length_buckets(exported_voice: ExportedVoice) -> None:
    frontend = configs(gpu_models(exported_voice, graphs(exported_voice)))["frontend"]
    buckets = frontend.parameters["length_buckets"].string_value
    assert buckets == ",".join(str(b) for b in GpuTuning().length_buckets)
    voice = PiperVoiceConfig.load(exported_voice.config)
    padded = TextFrontend(voice, length_buckets=(32, 64, 128, 256, 400))
    for text in ("Hi.", "A somewhat longer sentence than that one.", "Hi. " * 3):
        batch = padded.encode(text)
        assert batch.ids.shape[1] in (32, 64, 128, 256, 400)
        assert batch.ids.shape[1] >= batch.lengths.max()
        plain = TextFrontend(voice).encode(text)
        assert np.array_equal(batch.ids[:, : plain.ids.shape[1]], plain.ids)


def test_repository_writes_engines_and_warmup_data(exported_voice: ExportedVoice,
                                                    fake_plans: dict[str, StagePlans],
                                                    tmp_path: Path) -> None:
    out = write_repository(gpu_models(exported_voice, graphs(exported_voice), fake_plans),
                           tmp_path / "repo")
    for stage in ("acoustic", "vocoder"):
        assert {p.name for p in (out / stage / "1").iterdir()} == {
            "model.plan", "model_sm80.plan", "model_sm90.plan"}
    lengths = np.frombuffer((out / "acoustic" / "warmup" / "sentence_phoneme_lengths")
                            .read_bytes(), dtype=np.int64)
    assert lengths.tolist() == [GpuTuning().warmup_phonemes]
    for config in out.glob("*/config.pbtxt"):
        parse(config.read_text())


def test_cuda_graphs_need_tensorrt(exported_voice: ExportedVoice) -> None:
    vocoder = next(m for m in gpu_models(exported_voice, graphs(exported_voice))
                   if m.name == "vocoder")
    assert isinstance(vocoder, GraphModel)
    broken = GraphModel(**{**vocoder.__dict__, "cuda_graph_shapes": ({"latent": (192, 32)},)})
    with pytest.raises(RenderError, match="TensorRT"):
        render(broken)


def test_buckets_must_hold_the_longest_chunk(exported_voice: ExportedVoice) -> None:
    with pytest.raises(ValueError, match="bucket"):
        gpu_models(exported_voice, graphs(exported_voice), tuning=GpuTuning(length_buckets=(64,)))


def test_multi_speaker_voice_feeds_both_graphs_their_speaker_inputs(
        multi_speaker_voice, fake_plans: dict[str, StagePlans], tmp_path: Path) -> None:
    _, _, voice = multi_speaker_voice
    found = configs(gpu_models(voice, graphs(voice), fake_plans))
    # Every graph input is a config input, batched the same way (sid [B] travels as [B, 1]).
    for stage, path in graphs(voice).items():
        graph_inputs = {i.name for i in onnx.load(str(path), load_external_data=False)
                        .graph.input}
        assert {i.name for i in found[stage].input} == graph_inputs
    acoustic = {i.name: i for i in found["acoustic"].input}
    assert list(acoustic["speaker_id"].dims) == [1]
    assert list(acoustic["speaker_id"].reshape.shape) == []
    embedding = [voice.speaker_embedding_channels, 1]
    assert list(next(o for o in found["acoustic"].output
                     if o.name == "speaker_embedding").dims) == embedding
    # Warm-up speaks as speaker 0 and the streaming windows' CUDA graphs carry the embedding.
    warmup = found["acoustic"].model_warmup[0]
    assert warmup.inputs["speaker_id"].zero_data
    assert all(list(spec.input["speaker_embedding"].dim) == embedding
               for spec in found["vocoder"].optimization.cuda.graph_spec)
    tts = found["tts"]
    vocoder_step = next(s for s in tts.ensemble_scheduling.step if s.model_name == "vocoder")
    assert dict(vocoder_step.input_map) == {"latent": "latent",
                                            "speaker_embedding": "speaker_embedding"}
    assert write_repository(gpu_models(voice, graphs(voice), fake_plans), tmp_path / "repo")
