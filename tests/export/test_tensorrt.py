"""TensorRT engine builds: everything up to the device call, on CPU; the build itself on a GPU."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from tritontts.export.optimize import SAMPLE_SENTENCES, StagePair, compare_stage_pairs
from tritontts.export.tensorrt import (
    FP16_ENGINE_TOLERANCE,
    FP32_ENGINE_TOLERANCE,
    GPU_REQUIRED_MESSAGE,
    INT8_KEEP_FP32,
    INT8_TOLERANCE,
    CalibrationSet,
    CudaDevice,
    FramesPerPhoneme,
    GpuRequiredError,
    ShapeProfile,
    build_engine,
    build_voice_engines,
    calibration_batches,
    check_engines,
    compare_with_onnxruntime,
    cuda_devices,
    deterministic,
    max_frames,
    measure_frames_per_phoneme,
    polygraphy_profile,
    polygraphy_run_command,
    prepare_engine_onnx,
    quantize_vocoder_int8,
    require_gpu,
    save_feeds,
    stage_profiles,
)
from tritontts.piper.frontend import GPU_LIMITS, FrontendLimits, TextFrontend
from tritontts.piper.stages import ort_session
from tritontts.piper.voice import ExportedVoice, OptionLimits, PiperVoiceConfig
from tritontts.repository.engines import cc_model_filenames, engine_filename

HAS_GPU = bool(cuda_devices())
needs_gpu = pytest.mark.skipif(
    not HAS_GPU, reason="TensorRT engine builds need an NVIDIA GPU (none on this machine)")
LIMITS = GPU_LIMITS
# Calibrate on the first half of the sample text, measure on the other half.
CALIBRATION_TEXT, HELD_OUT_TEXT = SAMPLE_SENTENCES[:6], SAMPLE_SENTENCES[6:]


@pytest.fixture(scope="session")
def voice_config(voice_copy: ExportedVoice) -> PiperVoiceConfig:
    return PiperVoiceConfig.load(voice_copy.config)


@pytest.fixture(scope="session")
def frames_per_phoneme(voice_copy: ExportedVoice,
                       voice_config: PiperVoiceConfig) -> FramesPerPhoneme:
    return measure_frames_per_phoneme(voice_copy.acoustic, voice_config)


@pytest.fixture(scope="session")
def calibration(voice_copy: ExportedVoice) -> CalibrationSet:
    return calibration_batches(voice_copy, CALIBRATION_TEXT, batch_size=2, window_frames=64)


# ---- profiles ------------------------------------------------------------------------------

def test_profiles_follow_the_voice_limits(voice_copy: ExportedVoice,
                                          frames_per_phoneme: FramesPerPhoneme) -> None:
    profiles = stage_profiles(LIMITS, frames_per_phoneme, voice_copy.latent_channels)
    ids, lengths, scales = profiles["acoustic"]
    (latent,) = profiles["vocoder"]
    assert scales.input == "scales"
    assert (scales.min, scales.opt, scales.max) == ((1, 3), (8, 3), (LIMITS.max_chunks, 3))
    assert (ids.input, lengths.input, latent.input) == ("phoneme_ids", "phoneme_lengths", "latent")
    assert ids.min == (1, 1) and ids.max == (LIMITS.max_chunks, LIMITS.max_phoneme_ids)
    assert ids.opt == (8, 128)
    assert (lengths.min, lengths.opt, lengths.max) == ((1,), (8,), (LIMITS.max_chunks,))
    longest = math.ceil(LIMITS.max_phoneme_ids * frames_per_phoneme.slowest)
    assert latent.min == (1, voice_copy.latent_channels, 1)
    assert latent.max == (LIMITS.max_chunks, voice_copy.latent_channels, longest)
    assert latent.opt == (8, voice_copy.latent_channels,
                          round(128 * frames_per_phoneme.typical))
    for shape in (ids, lengths, latent):
        assert all(lo <= opt <= hi for lo, opt, hi in zip(shape.min, shape.opt, shape.max,
                                                           strict=True))


def test_profiles_move_with_the_limits(frames_per_phoneme: FramesPerPhoneme) -> None:
    small = FrontendLimits(max_phoneme_ids=100, max_chunks=4)
    profiles = stage_profiles(small, frames_per_phoneme, latent_channels=192, opt_batch=2,
                              opt_phonemes=64)
    assert profiles["acoustic"][0].max == (4, 100)
    assert profiles["acoustic"][0].opt == (2, 64)
    assert profiles["vocoder"][0].max == (4, 192, max_frames(small, frames_per_phoneme))
    with pytest.raises(ValueError, match="min <= opt <= max"):
        stage_profiles(small, frames_per_phoneme, latent_channels=192, opt_batch=8)


def test_frames_bound_is_measured_at_the_slowest_speed(
        frames_per_phoneme: FramesPerPhoneme) -> None:
    slowest = OptionLimits().speed[0]
    assert frames_per_phoneme.slowest_speed == slowest
    # length_scale / speed: 4× the frames of speed 1, give or take the ceil of each duration.
    assert frames_per_phoneme.slowest > 3 * frames_per_phoneme.typical


def test_a_full_length_chunk_at_the_slowest_speed_fits_the_profile(
        voice_copy: ExportedVoice, voice_config: PiperVoiceConfig,
        frames_per_phoneme: FramesPerPhoneme) -> None:
    """A chunk as long as the frontend makes them, spoken at speed 0.25, fits in max frames."""
    text = " ".join(SAMPLE_SENTENCES).replace(".", ",").replace("!", ",").replace("?", ",")
    batch = TextFrontend(voice_config, LIMITS).encode(text)
    longest = int(np.argmax(batch.lengths))
    assert batch.lengths[longest] > 0.9 * LIMITS.max_phoneme_ids
    scales = np.array([0.0, voice_config.length_scale / frames_per_phoneme.slowest_speed, 0.0],
                      dtype=np.float32)
    length = int(batch.lengths[longest])
    (frames,) = ort_session(voice_copy.acoustic, 1).run(["frame_lengths"], {
        "phoneme_ids": batch.ids[longest : longest + 1, :length],
        "phoneme_lengths": batch.lengths[longest : longest + 1], "scales": scales[None]})
    assert 0 < int(frames[0]) <= max_frames(LIMITS, frames_per_phoneme)


def test_shape_profile_checks_its_shapes() -> None:
    with pytest.raises(ValueError, match="ranks differ"):
        ShapeProfile("latent", (1, 192, 1), (1, 192), (1, 192, 9))
    with pytest.raises(ValueError, match="min <= opt <= max"):
        ShapeProfile("phoneme_ids", (1, 10), (1, 5), (1, 400))


def test_polygraphy_profile_carries_the_shapes(voice_copy: ExportedVoice,
                                               frames_per_phoneme: FramesPerPhoneme) -> None:
    shapes = stage_profiles(LIMITS, frames_per_phoneme, voice_copy.latent_channels)["acoustic"]
    profile = polygraphy_profile(shapes)
    assert list(profile) == ["phoneme_ids", "phoneme_lengths", "scales"]
    for shape in shapes:
        assert (tuple(profile[shape.input].min), tuple(profile[shape.input].opt),
                tuple(profile[shape.input].max)) == (shape.min, shape.opt, shape.max)


# ---- the GPU check -------------------------------------------------------------------------

@pytest.mark.skipif(HAS_GPU, reason="checks the behaviour of a machine without a GPU")
def test_engine_build_without_a_gpu_stops_with_one_clear_message(
        voice_copy: ExportedVoice, frames_per_phoneme: FramesPerPhoneme, tmp_path: Path) -> None:
    profiles = stage_profiles(LIMITS, frames_per_phoneme, voice_copy.latent_channels)
    source = tmp_path / "voice" / "acoustic.onnx"
    source.parent.mkdir()
    shutil.copyfile(voice_copy.acoustic, source)
    plan = tmp_path / "acoustic" / "1" / "model_sm80.plan"
    with pytest.raises(GpuRequiredError) as raised:
        build_engine(source, plan, profiles["acoustic"])
    assert str(raised.value) == GPU_REQUIRED_MESSAGE
    assert "make export ENGINES=1" in GPU_REQUIRED_MESSAGE and "nvidia-smi" in GPU_REQUIRED_MESSAGE
    # It stops before any work: no engine folder, not even a cleaned graph beside the source.
    assert not plan.parent.exists()
    assert [p.name for p in source.parent.iterdir()] == ["acoustic.onnx"]
    with pytest.raises(GpuRequiredError, match="NVIDIA GPU"):
        build_voice_engines(voice_copy, tmp_path / "engines", progress=lambda _: None)
    with pytest.raises(GpuRequiredError, match="NVIDIA GPU"):
        compare_with_onnxruntime(voice_copy.vocoder, plan, [], FP32_ENGINE_TOLERANCE)
    assert "tensorrt" not in sys.modules, "the GPU check must not import TensorRT"


def test_require_gpu_returns_the_first_device() -> None:
    device = CudaDevice(0, "NVIDIA H100", (9, 0))
    assert require_gpu(lambda: [device, CudaDevice(1, "x", (8, 0))]) == device
    with pytest.raises(GpuRequiredError):
        require_gpu(lambda: [])


# ---- engine files per compute capability ---------------------------------------------------

@pytest.mark.parametrize(("capability", "name"), [
    ((8, 0), "model_sm80.plan"), ("8.6", "model_sm86.plan"), ((9, 0), "model_sm90.plan"),
    ("12.0", "model_sm120.plan"), ((7, 5), "model_sm75.plan")])
def test_engine_filename_per_compute_capability(capability: tuple[int, int] | str,
                                                name: str) -> None:
    assert engine_filename(capability) == name


def test_cc_model_filenames_maps_capabilities_to_engines(tmp_path: Path) -> None:
    capabilities = [(7, 5), (8, 0), (8, 9), (9, 0), (12, 0)]
    for capability in capabilities:
        (tmp_path / engine_filename(capability)).write_bytes(b"plan")
    (tmp_path / "model.plan").write_bytes(b"plan")
    (tmp_path / "model_sm80.plan.tmp").write_bytes(b"partial")
    assert cc_model_filenames(tmp_path) == {
        f"{major}.{minor}": engine_filename((major, minor)) for major, minor in capabilities}
    with pytest.raises(ValueError, match="compute capability"):
        engine_filename((8, 10))


# ---- INT8 calibration ----------------------------------------------------------------------

def test_calibration_batches_are_real_phoneme_sequences(calibration: CalibrationSet,
                                                        voice_config: PiperVoiceConfig,
                                                        voice_copy: ExportedVoice) -> None:
    frontend = TextFrontend(voice_config)
    expected = [frontend.encode(text) for text in CALIBRATION_TEXT]
    sequences = [row[:length] for batch in expected
                 for row, length in zip(batch.ids, batch.lengths.tolist(), strict=True)]
    width = max(len(s) for s in sequences)
    assert len(calibration.acoustic) == len(sequences) // 2
    pad = voice_config.phoneme_id_map["_"][0]
    for index, feeds in enumerate(calibration.acoustic):
        assert set(feeds) == {"phoneme_ids", "phoneme_lengths", "scales"}
        ids, lengths, scales = feeds["phoneme_ids"], feeds["phoneme_lengths"], feeds["scales"]
        assert (ids.dtype, lengths.dtype, scales.dtype) == (np.int64, np.int64, np.float32)
        assert ids.shape == (2, width) and lengths.shape == (2,) and scales.shape == (2, 3)
        for row in range(2):
            sequence = sequences[2 * index + row]
            assert lengths[row] == len(sequence)
            np.testing.assert_array_equal(ids[row, : len(sequence)], sequence)
            assert (ids[row, len(sequence) :] == pad).all()
        np.testing.assert_allclose(scales, [[voice_config.noise_scale, voice_config.length_scale,
                                             voice_config.noise_w]] * 2)
    assert calibration.vocoder
    for feeds in calibration.vocoder:
        latent = feeds["latent"]
        assert latent.dtype == np.float32
        assert latent.shape == (2, voice_copy.latent_channels, 64)
        assert np.isfinite(latent).all() and np.abs(latent).max() > 0


def _quantized_inputs(model: onnx.ModelProto) -> dict[str, str]:
    """Conv/ConvTranspose name → producer op of its data input."""
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    return {n.name: producers.get(n.input[0], "input") for n in model.graph.node
            if n.op_type in ("Conv", "ConvTranspose")}


@pytest.mark.slow  # INT8 calibration of the vocoder on real batches
def test_int8_vocoder_is_symmetric_qdq_and_reuses_its_cache(
        voice_copy: ExportedVoice, voice_config: PiperVoiceConfig, calibration: CalibrationSet,
        tmp_path: Path) -> None:
    source = prepare_engine_onnx(voice_copy.vocoder, fp16=False, progress=lambda _: None)
    cache = tmp_path / "vocoder.calibration.json"
    first = quantize_vocoder_int8(source, tmp_path / "first.onnx", cache, calibration.vocoder)
    assert cache.exists()
    # Without feeds the ranges come from the cache: the same graph again.
    second = quantize_vocoder_int8(source, tmp_path / "second.onnx", cache)
    assert first.read_bytes() == second.read_bytes()

    model = onnx.load(str(first))
    onnx.checker.check_model(model, full_check=True)
    inputs = _quantized_inputs(model)
    assert all(inputs[name] != "DequantizeLinear" for name in INT8_KEEP_FP32)
    quantized = [name for name, producer in inputs.items() if producer == "DequantizeLinear"]
    assert len(quantized) == len(inputs) - len(INT8_KEEP_FP32)
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    zero_points = [weights[n.input[2]] for n in model.graph.node
                   if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2]
    assert zero_points and all((z == 0).all() for z in zero_points)  # symmetric, as TensorRT

    report = compare_stage_pairs(StagePair(voice_copy.acoustic, voice_copy.vocoder),
                                 StagePair(voice_copy.acoustic, first), voice_config,
                                 HELD_OUT_TEXT, INT8_TOLERANCE)
    print("\n" + report.table())
    assert report.passed, report.table()


def test_int8_refuses_the_acoustic_stage(voice_copy: ExportedVoice, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="vocoder only"):
        quantize_vocoder_int8(voice_copy.acoustic, tmp_path / "a.onnx", tmp_path / "c.json", [])


# ---- the ONNX side of a build, and the parity command --------------------------------------

@pytest.mark.slow  # FP16 conversion of each stage graph
@pytest.mark.parametrize("stage", ["acoustic", "vocoder"])
def test_engine_graph_is_the_fp16_variant_with_the_same_io(voice_copy: ExportedVoice,
                                                           stage: str) -> None:
    source = voice_copy.acoustic if stage == "acoustic" else voice_copy.vocoder
    graph = prepare_engine_onnx(source, fp16=True, progress=lambda _: None)
    assert graph.name == f"{stage}.fp16.onnx"
    built, original = onnx.load(str(graph)), onnx.load(str(source))
    onnx.checker.check_model(built, full_check=True)
    for ours, theirs in ((built.graph.input, original.graph.input),
                         (built.graph.output, original.graph.output)):
        assert [(v.name, v.type.tensor_type.elem_type) for v in ours] == [
            (v.name, v.type.tensor_type.elem_type) for v in theirs]
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in built.graph.initializer)


def test_polygraphy_run_command_is_accepted_by_polygraphy(
        voice_copy: ExportedVoice, frames_per_phoneme: FramesPerPhoneme, tmp_path: Path) -> None:
    """The command as a GPU host runs it, with ONNX Runtime standing in for TensorRT here: the
    flags parse and the saved inputs load."""
    graph = prepare_engine_onnx(voice_copy.vocoder, fp16=False, progress=lambda _: None)
    latent = np.random.default_rng(0).standard_normal((1, voice_copy.latent_channels, 24))
    inputs = save_feeds([{"latent": latent.astype(np.float32)}], tmp_path / "inputs.json")
    profiles = stage_profiles(LIMITS, frames_per_phoneme, voice_copy.latent_channels)
    command = polygraphy_run_command(graph, profiles["vocoder"], inputs, FP16_ENGINE_TOLERANCE,
                                     tmp_path / "timing.cache")
    assert command[:5] == ["polygraphy", "run", str(graph), "--trt", "--onnxrt"]
    assert "latent:[64,192," in " ".join(command)
    command[0] = str(Path(sys.executable).with_name("polygraphy"))
    command[3] = "--onnxrt"
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "PASSED" in done.stdout + done.stderr


def test_integer_outputs_must_be_equal_in_an_engine(voice_copy: ExportedVoice,
                                                    frames_per_phoneme: FramesPerPhoneme,
                                                    tmp_path: Path) -> None:
    """The acoustic engine's frame counts and phoneme durations get no tolerance at all."""
    profiles = stage_profiles(LIMITS, frames_per_phoneme, voice_copy.latent_channels)
    command = polygraphy_run_command(voice_copy.acoustic, profiles["acoustic"],
                                     tmp_path / "inputs.json", FP16_ENGINE_TOLERANCE)
    for option in ("--atol", "--rtol"):
        bounds = command[command.index(option) + 1 : command.index(option) + 4]
        assert bounds[1:] == ["frame_lengths:0", "phoneme_durations:0"], command


# ---- on a GPU host -------------------------------------------------------------------------

@needs_gpu
def test_engines_build_and_match_onnxruntime(voice_copy: ExportedVoice, tmp_path: Path) -> None:
    engines = build_voice_engines(voice_copy, tmp_path / "engines",
                                  timing_cache=tmp_path / "timing.cache")
    device = require_gpu()
    for built in engines.values():
        major, minor = device.compute_capability
        assert built.cc_model_filenames == {f"{major}.{minor}":
                                            engine_filename(device.compute_capability)}
    check_engines(voice_copy, engines)  # raises EngineParityError outside the tolerance


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU: the check runs in the test above")
def test_engine_check_stops_at_the_gpu_and_compares_deterministic_feeds(
        voice_copy: ExportedVoice, calibration: CalibrationSet) -> None:
    with pytest.raises(GpuRequiredError, match="GPU"):
        check_engines(voice_copy, {})
    # Noise scales 0 on the acoustic feeds: both runtimes then must agree; vocoder feeds as is.
    for original, fixed in zip(calibration.acoustic, deterministic(calibration.acoustic),
                               strict=True):
        assert np.array_equal(fixed["scales"], np.tile([0.0, 1.0, 0.0], (len(fixed["scales"]),
                                                                          1)))
        assert fixed["phoneme_ids"] is original["phoneme_ids"]
    assert all(a is b for a, b in zip(deterministic(calibration.vocoder), calibration.vocoder,
                                      strict=True))


@pytest.mark.slow  # profiles and calibration measured on a second voice
def test_multi_speaker_profiles_and_calibration_carry_the_speaker(
        multi_speaker_voice, frames_per_phoneme: FramesPerPhoneme) -> None:
    _, _, voice = multi_speaker_voice
    profiles = stage_profiles(LIMITS, frames_per_phoneme, voice.latent_channels,
                              speaker_embedding_channels=voice.speaker_embedding_channels)
    speaker = next(p for p in profiles["acoustic"] if p.input == "speaker_id")
    assert (speaker.min, speaker.opt, speaker.max) == ((1,), (8,), (LIMITS.max_chunks,))
    embedding = next(p for p in profiles["vocoder"] if p.input == "speaker_embedding")
    assert embedding.max == (LIMITS.max_chunks, voice.speaker_embedding_channels, 1)
    calibration = calibration_batches(voice)
    assert {int(s) for feeds in calibration.acoustic for s in feeds["speaker_id"]} == set(
        range(voice.num_speakers))
    for feeds in calibration.vocoder:
        assert feeds["speaker_embedding"].shape == (
            feeds["latent"].shape[0], voice.speaker_embedding_channels, 1)
