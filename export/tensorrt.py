"""TensorRT engines for the two stages: everything up to the device call runs on CPU.

TensorRT 11 (the `gpu` extra pins 11.4) builds every network strongly typed: a layer runs in the
type the ONNX graph gives it, and the builder has no FP16 or INT8 flag and no INT8 calibrator
any more (implicit quantization was removed). So precision is decided here, in ONNX, on CPU:
- fp16: the FP16 variant from `optimize.convert_fp16` (FP32 where durations are decided);
- int8: explicit quantization, Q/DQ nodes from ONNX Runtime's static quantizer, calibrated on
  latents of real phoneme sequences, its ranges kept in a calibration cache (JSON) that later
  builds reuse. Vocoder only; see `quantize_vocoder_int8` for what it costs.
The device steps (build, TensorRT-vs-ONNX-Runtime parity) use polygraphy's TensorRT backend,
which wraps the TensorRT API across versions; `tensorrt` is imported only on a GPU host.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

from tritontts.errors import TritonTTSError
from tritontts.export.optimize import (
    SAMPLE_SENTENCES,
    AudioTolerance,
    convert_fp16,
    optimize_stage,
    stage_name,
    variant_path,
)
from tritontts.piper.frontend import GPU_LIMITS, FrontendLimits, TextFrontend
from tritontts.piper.precision import KEEP_FULL_PRECISION_OPS
from tritontts.piper.stages import ort_session
from tritontts.piper.voice import ExportedVoice, OptionLimits, PiperVoiceConfig
from tritontts.repository.engines import cc_model_filenames, engine_filename
from tritontts_client import contract as c
from tritontts_client.contract import FRAME_LENGTHS, LATENT, PHONEME_DURATIONS, SPEAKER_EMBEDDING
from tritontts_client.contract import PLAN_FILENAME as DEFAULT_MODEL_FILENAME

GPU_REQUIRED_MESSAGE = (
    "TensorRT engine builds need an NVIDIA GPU: run `make export ENGINES=1` on a GPU host "
    "(nvidia-smi must list a device)")
TENSORRT_PIN = "tensorrt==11.4.0.106"

Progress = Callable[[str], None]
DEFAULT_LIMITS = GPU_LIMITS


class GpuRequiredError(TritonTTSError):
    """A step needs a CUDA device and this machine has none."""

    exit_code = 3


class TensorRtMissingError(TritonTTSError, ImportError):
    """A GPU is there but the `tensorrt` package is not installed."""

    exit_code = 3


# ---- the device ----------------------------------------------------------------------------

@dataclass(frozen=True)
class CudaDevice:
    index: int
    name: str
    compute_capability: tuple[int, int]


def cuda_devices() -> list[CudaDevice]:
    """CUDA devices, through cuda-python (a light import, already a dependency) or else
    nvidia-smi; [] when there is no driver or no device. Never imports tensorrt."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        return _devices_from_nvidia_smi()
    error, count = runtime.cudaGetDeviceCount()
    if error != runtime.cudaError_t.cudaSuccess:
        return []  # no driver (cudaErrorInsufficientDriver) or no device
    devices: list[CudaDevice] = []
    for index in range(count):
        error, properties = runtime.cudaGetDeviceProperties(index)
        if error == runtime.cudaError_t.cudaSuccess:
            name = properties.name.split(b"\0", 1)[0].decode(errors="replace")
            devices.append(CudaDevice(index, name, (properties.major, properties.minor)))
    return devices


def _devices_from_nvidia_smi() -> list[CudaDevice]:
    if shutil.which("nvidia-smi") is None:
        return []
    query = ["nvidia-smi", "--query-gpu=index,name,compute_cap", "--format=csv,noheader"]
    try:
        lines = subprocess.run(query, capture_output=True, text=True, timeout=30,
                               check=True).stdout.splitlines()
    except (subprocess.SubprocessError, OSError):
        return []
    devices = []
    for line in lines:
        index, name, capability = (part.strip() for part in line.split(","))
        major, minor = capability.split(".")
        devices.append(CudaDevice(int(index), name, (int(major), int(minor))))
    return devices


def require_gpu(devices: Callable[[], list[CudaDevice]] = cuda_devices) -> CudaDevice:
    """The first CUDA device, or GpuRequiredError with the one message a CLI prints."""
    found = devices()
    if not found:
        raise GpuRequiredError(GPU_REQUIRED_MESSAGE)
    return found[0]


def _import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as error:
        raise TensorRtMissingError(
            f"TensorRT is not installed: pip install {TENSORRT_PIN} (or pip install -e '.[gpu]')"
        ) from error
    return tensorrt


# ---- optimization profiles (plain functions, no GPU) ----------------------------------------

@dataclass(frozen=True)
class ShapeProfile:
    """min / opt / max shapes of one input in a TensorRT optimization profile."""

    input: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def __post_init__(self) -> None:
        if not len(self.min) == len(self.opt) == len(self.max):
            raise ValueError(f"{self.input}: min/opt/max ranks differ")
        if not all(1 <= lo <= opt <= hi
                   for lo, opt, hi in zip(self.min, self.opt, self.max, strict=True)):
            raise ValueError(f"{self.input}: need 1 <= min <= opt <= max, got {self}")


@dataclass(frozen=True)
class FramesPerPhoneme:
    """Latent frames per phoneme id, measured with the FP32 acoustic stage on sample text.

    `slowest` (max over the sentences at the slowest allowed speed) bounds the vocoder's frames;
    `typical` (median at speed 1) sets its opt frames. Measured with noise scales 0, i.e. the
    predicted durations themselves: sampled durations (noise_w > 0) spread around them, without
    a bound at large noise_w (on the bundled voice, noise_w 2 at speed 0.25 gave a chunk with 870
    frames per id in 60 draws), so a latent longer than the profile's max must be vocoded in
    windows (tritontts.piper.streaming does so), never sent whole to the engine.
    """

    slowest: float
    typical: float
    slowest_speed: float


def measure_frames_per_phoneme(acoustic: Path, voice: PiperVoiceConfig,
                               sentences: Iterable[str] = SAMPLE_SENTENCES,
                               slowest_speed: float = OptionLimits().speed[0]) -> FramesPerPhoneme:
    session = ort_session(acoustic, threads=1)
    frontend = TextFrontend(voice)

    def ratios(speed: float) -> list[float]:
        scales = np.array([0.0, voice.length_scale / speed, 0.0], dtype=np.float32)
        found = []
        for text in sentences:
            batch = frontend.encode(text)
            (frames,) = session.run([FRAME_LENGTHS.name], {
                c.PHONEME_IDS.name: batch.ids, c.PHONEME_LENGTHS.name: batch.lengths,
                c.SCALES.name: np.tile(scales, (batch.chunks, 1))})
            found.extend((frames / batch.lengths).tolist())
        return found

    return FramesPerPhoneme(slowest=max(ratios(slowest_speed)),
                            typical=float(np.median(ratios(1.0))), slowest_speed=slowest_speed)


def max_frames(limits: FrontendLimits, frames_per_phoneme: FramesPerPhoneme) -> int:
    """The longest latent one chunk makes: its max phoneme ids at the slowest speed."""
    return math.ceil(limits.max_phoneme_ids * frames_per_phoneme.slowest)


def stage_profiles(limits: FrontendLimits, frames_per_phoneme: FramesPerPhoneme,
                   latent_channels: int, opt_batch: int = 8,
                   opt_phonemes: int = 128,
                   speaker_embedding_channels: int = 0) -> dict[str, list[ShapeProfile]]:
    """One optimization profile per stage (a ShapeProfile per dynamic input).

    Batch: 1..max_chunks (one request's chunks are one batch), opt 8. Phonemes: 1..the
    frontend's max_phoneme_ids, opt 128 (the sample sentences have 13–181 ids, median 134).
    Frames: 1..max_frames (see `max_frames`), opt = opt_phonemes × the typical frames per id.
    `scales` [batch, 3] follows the batch, and so do a multi-speaker voice's `speaker_id`
    [batch] and `speaker_embedding` [batch, E, 1].
    """
    batch = (1, opt_batch, limits.max_chunks)
    phonemes = (1, opt_phonemes, limits.max_phoneme_ids)
    longest = max_frames(limits, frames_per_phoneme)
    frames = (1, min(longest, round(opt_phonemes * frames_per_phoneme.typical)), longest)
    profiles = {
        c.ACOUSTIC_MODEL: [
            ShapeProfile(c.PHONEME_IDS.name, (batch[0], phonemes[0]), (batch[1], phonemes[1]),
                         (batch[2], phonemes[2])),
            ShapeProfile(c.PHONEME_LENGTHS.name, (batch[0],), (batch[1],), (batch[2],)),
            ShapeProfile(c.SCALES.name, (batch[0], 3), (batch[1], 3), (batch[2], 3)),
        ],
        c.VOCODER_MODEL: [
            ShapeProfile(LATENT.name, (batch[0], latent_channels, frames[0]),
                         (batch[1], latent_channels, frames[1]),
                         (batch[2], latent_channels, frames[2])),
        ],
    }
    if speaker_embedding_channels:
        profiles[c.ACOUSTIC_MODEL].append(ShapeProfile(c.SPEAKER_ID.name, (batch[0],),
                                                         (batch[1],), (batch[2],)))
        profiles[c.VOCODER_MODEL].append(ShapeProfile(
            SPEAKER_EMBEDDING.name, *((n, speaker_embedding_channels, 1) for n in batch)))
    return profiles


def polygraphy_profile(shapes: Sequence[ShapeProfile]) -> Any:
    """The same profile as polygraphy's `Profile` (pure Python until it meets a builder)."""
    from polygraphy.backend.trt import Profile

    profile = Profile()
    for shape in shapes:
        profile.add(shape.input, min=shape.min, opt=shape.opt, max=shape.max)
    return profile


# ---- INT8 calibration data from real phoneme sequences --------------------------------------

@dataclass(frozen=True)
class CalibrationSet:
    """Feeds for each stage, all batches of a stage the same shape (histogram calibrators
    stack them)."""

    acoustic: list[dict[str, np.ndarray]]
    vocoder: list[dict[str, np.ndarray]]


def calibration_batches(voice: ExportedVoice, sentences: Iterable[str] = SAMPLE_SENTENCES,
                        batch_size: int = 4, window_frames: int = 64) -> CalibrationSet:
    """Acoustic feeds: the sentences' phoneme ids in batches of `batch_size`, padded with PAD to
    the longest of them, with the voice's own scales (noise on, as served). Vocoder feeds:
    windows of `window_frames` frames cut from the latents those batches produce (the vocoder is
    convolutional; streaming runs it on windows too), `batch_size` windows a batch. A
    multi-speaker voice's batches go through its speakers in turn."""
    config = PiperVoiceConfig.load(voice.config)
    frontend = TextFrontend(config)
    sequences: list[tuple[np.ndarray, int]] = []
    for text in sentences:
        batch = frontend.encode(text)
        sequences.extend((ids[:length], length)
                         for ids, length in zip(batch.ids, batch.lengths.tolist(), strict=True))
    if len(sequences) < batch_size:
        raise ValueError(f"{len(sequences)} sequences make no batch of {batch_size}")
    width = max(length for _, length in sequences)
    pad = config.phoneme_id_map["_"][0]
    scales = np.array([config.noise_scale, config.length_scale, config.noise_w], np.float32)
    acoustic: list[dict[str, np.ndarray]] = []
    for start in range(0, len(sequences) - batch_size + 1, batch_size):
        group = sequences[start : start + batch_size]
        ids = np.full((batch_size, width), pad, dtype=np.int64)
        for row, (sequence, length) in enumerate(group):
            ids[row, :length] = sequence
        lengths = np.array([length for _, length in group], dtype=np.int64)
        feeds = {c.PHONEME_IDS.name: ids, c.PHONEME_LENGTHS.name: lengths,
                 c.SCALES.name: np.tile(scales, (batch_size, 1))}
        if voice.num_speakers > 1:
            feeds[c.SPEAKER_ID.name] = np.arange(start, start + batch_size,
                                            dtype=np.int64) % voice.num_speakers
        acoustic.append(feeds)

    session = ort_session(voice.acoustic, threads=1)
    windows: list[dict[str, np.ndarray]] = []
    for feeds in acoustic:
        latent, frames, *embedding = session.run(
            [LATENT.name, FRAME_LENGTHS.name,
             *([SPEAKER_EMBEDDING.name] if voice.num_speakers > 1 else [])], feeds)
        for row, count in enumerate(frames.tolist()):
            speaker = ({SPEAKER_EMBEDDING.name: embedding[0][row : row + 1]} if embedding
                       else {})
            windows.extend({LATENT.name: latent[row : row + 1, :, offset : offset + window_frames],
                            **speaker}
                           for offset in range(0, count - window_frames + 1, window_frames))
    vocoder = [{name: np.concatenate([w[name] for w in windows[start : start + batch_size]])
                for name in windows[start]}
               for start in range(0, len(windows) - batch_size + 1, batch_size)]
    return CalibrationSet(acoustic, vocoder)


class FeedReader(CalibrationDataReader):
    """ONNX Runtime's calibration data reader over a list of feeds."""

    def __init__(self, feeds: Iterable[dict[str, np.ndarray]]) -> None:
        self._feeds: Iterator[dict[str, np.ndarray]] = iter(list(feeds))

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


# Percentile calibration (99.999th percentile of |x|) was the closest of ONNX Runtime's methods
# on the bundled vocoder: waveform SNR against FP32 on 6 held-out sentences 13.6–19.3 dB, vs
# MinMax 12.9–16.9 and Entropy (TensorRT's old default) 12.2–17.4, with every Conv quantized.
INT8_CALIBRATION = CalibrationMethod.Percentile
# The up-sampling ConvTranspose layers and the first and last Conv stay FP32: quantizing them too
# cost 2.6–4.4 dB more on the same sentences.
INT8_KEEP_FP32 = ("/dec/conv_pre/Conv", "/dec/conv_post/Conv", "/dec/ups.0/ConvTranspose",
                  "/dec/ups.1/ConvTranspose", "/dec/ups.2/ConvTranspose")


# A regression bound for the INT8 vocoder, not a quality bar: on held-out sentences it measured
# 16.2–23.2 dB against FP32, and 12 dB stays clear of the run-to-run spread of a calibration
# whose latents carry the voice's noise. Frame counts are the acoustic stage's and cannot move.
INT8_TOLERANCE = AudioTolerance(min_snr_db=12.0)


def quantize_vocoder_int8(path_in: Path, path_out: Path, calibration_cache: Path,
                          feeds: Iterable[dict[str, np.ndarray]] | None = None) -> Path:
    """The vocoder with INT8 Q/DQ on its residual-block convolutions, symmetric (zero point 0,
    what TensorRT takes), per-channel weights.

    Activation ranges come from `calibration_cache` when it exists, else from `feeds`
    (`calibration_batches(...).vocoder`), and are then saved there for the next build.
    Measured against FP32 on ONNX Runtime: 16–23 dB waveform SNR on held-out sentences, well
    under the FP16 variant's 41+ dB; HiFi-GAN's activations have outliers that 8 bits do not
    cover without quantization-aware training. Offered for throughput experiments, not as a
    serving default.

    The acoustic stage is never quantized: it decides durations, which must not move.
    """
    model = onnx.load(str(path_in))
    if stage_name(model) != c.VOCODER_MODEL:
        raise ValueError("INT8 is offered for the vocoder only: the acoustic stage decides "
                         "durations, which quantization would change")
    if feeds is None and not calibration_cache.exists():
        raise ValueError(f"no calibration cache at {calibration_cache} and no feeds to make one")
    path_out.parent.mkdir(parents=True, exist_ok=True)
    quantize_static(
        str(path_in), str(path_out), None if feeds is None else FeedReader(feeds),
        quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8, per_channel=True, calibrate_method=INT8_CALIBRATION,
        op_types_to_quantize=["Conv", "ConvTranspose"], nodes_to_exclude=list(INT8_KEEP_FP32),
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
        calibration_cache_path=str(calibration_cache))
    return path_out


# ---- building -------------------------------------------------------------------------------

def prepare_engine_onnx(onnx_path: Path, fp16: bool = True, int8: bool = False,
                        calibration_cache: Path | None = None,
                        calibration_feeds: Iterable[dict[str, np.ndarray]] | None = None,
                        progress: Progress = print) -> Path:
    """The graph TensorRT will build, written beside `onnx_path` (CPU only): cleaned, then FP16
    (`fp16`) and/or INT8 Q/DQ (`int8`, vocoder; Q/DQ nodes stay FP32 inside an FP16 graph)."""
    cleaned = variant_path(onnx_path, "opt")
    progress(f"[engine] {optimize_stage(onnx_path, cleaned).summary()}")
    current = cleaned
    if int8:
        if calibration_cache is None:
            raise ValueError("int8 needs a calibration_cache path (written on the first build)")
        current = quantize_vocoder_int8(current, variant_path(onnx_path, "int8"),
                                        calibration_cache, calibration_feeds)
        progress(f"[engine] INT8 Q/DQ graph {current.name} (ranges: {calibration_cache})")
    if fp16:
        half = variant_path(onnx_path, "int8.fp16" if int8 else "fp16")
        progress(f"[engine] {convert_fp16(current, half, keep_fp32_ops=_QDQ_OPS).summary()}")
        current = half
    return current


# QuantizeLinear/DequantizeLinear keep their FP32 scales when the rest goes FP16.
_QDQ_OPS = (*KEEP_FULL_PRECISION_OPS, "QuantizeLinear", "DequantizeLinear")


def build_engine(onnx_path: Path, plan_path: Path, profiles: Sequence[ShapeProfile],
                 fp16: bool = True, int8: bool = False, calibration_cache: Path | None = None,
                 timing_cache: Path | None = None,
                 calibration_feeds: Iterable[dict[str, np.ndarray]] | None = None,
                 progress: Progress = print) -> tuple[Path, Path]:
    """Build one stage's engine (GPU host): (the plan, the ONNX graph it was built from).
    Checks for the GPU first, so that a CPU machine stops at once with GpuRequiredError; the
    ONNX-side steps then run, and the build reuses and updates `timing_cache` (shared by every
    build on the same GPU)."""
    device = require_gpu()
    _import_tensorrt()
    graph = prepare_engine_onnx(onnx_path, fp16, int8, calibration_cache, calibration_feeds,
                                progress)
    stage = stage_name(onnx.load(str(graph), load_external_data=False))
    progress(f"[engine] building {plan_path} from {graph.name} on {device.name} "
             f"(sm{device.compute_capability[0]}{device.compute_capability[1]}); "
             "this takes minutes")
    started = time.perf_counter()
    # TF32 rounds FP32 products to 10-bit mantissas: off for the acoustic stage, whose FP32
    # regions decide durations.
    save_plan(graph, plan_path, profiles, timing_cache, tf32=stage == c.VOCODER_MODEL)
    progress(f"[engine] wrote {plan_path} in {time.perf_counter() - started:.0f} s")
    return plan_path, graph


def save_plan(graph: Path, plan_path: Path, profiles: Sequence[ShapeProfile],
              timing_cache: Path | None = None, tf32: bool = False) -> Path:
    """Build the strongly typed TensorRT engine of an ONNX graph with these profiles and save
    it (GPU hosts); the build reuses and updates `timing_cache`."""
    _import_tensorrt()
    from polygraphy.backend.trt import (
        CreateConfig,
        EngineBytesFromNetwork,
        NetworkFromOnnxPath,
        SaveEngine,
    )

    cache = None if timing_cache is None else str(timing_cache)
    network = NetworkFromOnnxPath(str(graph), strongly_typed=True)
    config = CreateConfig(profiles=[polygraphy_profile(profiles)], tf32=tf32,
                          load_timing_cache=cache)
    engine = EngineBytesFromNetwork(network, config, save_timing_cache=cache)
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    SaveEngine(engine, str(plan_path))()
    return plan_path


@dataclass(frozen=True)
class StageEngines:
    stage: str
    directory: Path  # the model's version folder
    cc_model_filenames: dict[str, str]
    plan: Path  # the engine built on this machine's GPU
    graph: Path  # the ONNX graph it was built from, to compare it with
    default_model_filename: str = DEFAULT_MODEL_FILENAME


def build_voice_engines(voice: ExportedVoice, out_dir: Path, fp16: bool = True,
                        int8_vocoder: bool = False, timing_cache: Path | None = None,
                        limits: FrontendLimits = DEFAULT_LIMITS,
                        progress: Progress = print) -> dict[str, StageEngines]:
    """Both stages' engines for this machine's GPU, in out_dir/<stage>/1/model_smXY.plan, plus
    a `model.plan` copy for Triton's default_model_filename."""
    device = require_gpu()
    progress("[engine] measuring frames per phoneme id for the vocoder profile")
    frames = measure_frames_per_phoneme(voice.acoustic, PiperVoiceConfig.load(voice.config))
    profiles = stage_profiles(limits, frames, voice.latent_channels,
                              speaker_embedding_channels=voice.speaker_embedding_channels)
    cache = out_dir / "calibration" / f"{voice.name}.vocoder.json"
    feeds = None
    if int8_vocoder and not cache.exists():
        progress("[engine] INT8 calibration data from the sample sentences")
        feeds = calibration_batches(voice).vocoder
    built: dict[str, StageEngines] = {}
    for stage, onnx_path in ((c.ACOUSTIC_MODEL, voice.acoustic), (c.VOCODER_MODEL, voice.vocoder)):
        folder = out_dir / stage / "1"
        int8 = int8_vocoder and stage == c.VOCODER_MODEL
        plan, graph = build_engine(onnx_path, folder / engine_filename(device.compute_capability),
                            profiles[stage], fp16=fp16, int8=int8,
                            calibration_cache=cache, timing_cache=timing_cache,
                            calibration_feeds=feeds, progress=progress)
        shutil.copyfile(plan, folder / DEFAULT_MODEL_FILENAME)
        built[stage] = StageEngines(stage, folder, cc_model_filenames(folder), plan, graph)
    return built


# ---- TensorRT against ONNX Runtime ----------------------------------------------------------

@dataclass(frozen=True)
class EngineTolerance:
    """Per-output bounds for TensorRT against ONNX Runtime on the same ONNX graph.

    Integer outputs (frame_lengths, phoneme_durations) must be equal. Float outputs: FP32
    engines get the project's split-parity bound (1e-4, PARITY_TOLERANCE in export/voice.py,
    which the split meets on ONNX Runtime); FP16 engines 0.05 abs on waveform and latent, the
    order of the largest FP16-vs-FP32 waveform difference measured on CPU (0.031 on the sample
    sentences), as TensorRT computes in FP16 where ONNX Runtime's CPU kernels upcast. Neither
    was measured on a GPU here (none was available): the first GPU run checks them.
    """

    atol: float
    rtol: float


FP32_ENGINE_TOLERANCE = EngineTolerance(atol=1e-4, rtol=1e-3)
FP16_ENGINE_TOLERANCE = EngineTolerance(atol=5e-2, rtol=5e-2)
INTEGER_OUTPUTS = (FRAME_LENGTHS.name, PHONEME_DURATIONS.name)


def compare_with_onnxruntime(onnx_path: Path, plan_path: Path,
                             feeds: Sequence[dict[str, np.ndarray]],
                             tolerance: EngineTolerance) -> bool:
    """polygraphy's Comparator: the engine and ONNX Runtime (CPU) on the same feeds and graph."""
    require_gpu()
    _import_tensorrt()
    from polygraphy.backend.onnxrt import OnnxrtRunner, SessionFromOnnx
    from polygraphy.backend.trt import EngineFromPath, TrtRunner
    from polygraphy.comparator import Comparator, CompareFunc

    outputs = [o.name for o in onnx.load(str(onnx_path), load_external_data=False).graph.output]
    atol = {name: 0.0 if name in INTEGER_OUTPUTS else tolerance.atol for name in outputs}
    rtol = {name: 0.0 if name in INTEGER_OUTPUTS else tolerance.rtol for name in outputs}
    runners = [OnnxrtRunner(SessionFromOnnx(str(onnx_path), providers=["cpu"])),
               TrtRunner(EngineFromPath(str(plan_path)))]
    results = Comparator.run(runners, data_loader=list(feeds))
    return bool(Comparator.compare_accuracy(
        results, compare_func=CompareFunc.simple(atol=atol, rtol=rtol)))


def polygraphy_run_command(onnx_path: Path, profiles: Sequence[ShapeProfile],
                           inputs_json: Path, tolerance: EngineTolerance,
                           timing_cache: Path | None = None) -> list[str]:
    """The same check as a `polygraphy run` command line (it builds its own engine from the
    ONNX graph with these profiles); `inputs_json` from `save_feeds`."""
    command = ["polygraphy", "run", str(onnx_path), "--trt", "--onnxrt", "--strongly-typed",
               "--load-inputs", str(inputs_json)]
    # One default bound, then per-output overrides (polygraphy's `name:value` form).
    outputs = {o.name for o in onnx.load(str(onnx_path), load_external_data=False).graph.output}
    exact = [f"{name}:0" for name in INTEGER_OUTPUTS if name in outputs]
    command += ["--atol", str(tolerance.atol), *exact, "--rtol", str(tolerance.rtol), *exact]
    for option, pick in (("--trt-min-shapes", "min"), ("--trt-opt-shapes", "opt"),
                         ("--trt-max-shapes", "max")):
        command.append(option)
        command.extend(f"{p.input}:{list(getattr(p, pick))}".replace(" ", "") for p in profiles)
    if timing_cache is not None:
        command.extend(["--load-timing-cache", str(timing_cache),
                        "--save-timing-cache", str(timing_cache)])
    return command


def save_feeds(feeds: Sequence[dict[str, np.ndarray]], path: Path) -> Path:
    """Feeds in polygraphy's JSON format, for `polygraphy run --load-inputs`."""
    from polygraphy.json import save_json

    path.parent.mkdir(parents=True, exist_ok=True)
    save_json(list(feeds), str(path), description="tritontts parity inputs")
    return path


class EngineParityError(TritonTTSError):
    """An engine's outputs differ from ONNX Runtime's beyond the stated tolerance."""


def deterministic(feeds: Sequence[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Acoustic feeds with noise scales 0 (length scale 1), so that both runtimes draw nothing
    at random and must agree."""
    return [{**f, c.SCALES.name: np.tile(np.array([0.0, 1.0, 0.0], np.float32),
                                         (len(f[c.PHONEME_LENGTHS.name]), 1))}
            if c.SCALES.name in f else f for f in feeds]


def check_engines(voice: ExportedVoice, engines: dict[str, StageEngines], fp16: bool = True,
                  int8_vocoder: bool = False, progress: Progress = print) -> None:
    """Each engine built on this GPU against ONNX Runtime on the graph it was built from, with
    polygraphy's comparator, on the sample sentences' batches (`calibration_batches`); raises
    EngineParityError for a stage outside its tolerance (FP16_ENGINE_TOLERANCE or
    FP32_ENGINE_TOLERANCE; frame counts and phoneme durations exactly). An INT8 vocoder is
    judged by its SNR instead (docs/gpu.md), so it is not compared here."""
    require_gpu()
    tolerance = FP16_ENGINE_TOLERANCE if fp16 else FP32_ENGINE_TOLERANCE
    batches = calibration_batches(voice)
    for stage, built in engines.items():
        if stage == c.VOCODER_MODEL and int8_vocoder:
            progress("[engine] vocoder is INT8: not compared (see docs/gpu.md for its SNR)")
            continue
        feeds = deterministic(batches.acoustic if stage == c.ACOUSTIC_MODEL else batches.vocoder)
        progress(f"[engine] comparing {built.plan} with ONNX Runtime on {built.graph.name}, "
                 f"{len(feeds)} batches (atol {tolerance.atol}, rtol {tolerance.rtol})")
        if not compare_with_onnxruntime(built.graph, built.plan, feeds, tolerance):
            raise EngineParityError(
                f"the {stage} engine differs from ONNX Runtime beyond atol {tolerance.atol} / "
                f"rtol {tolerance.rtol} (polygraphy's report is above): do not serve it; "
                "rebuild without FP16 (FP32 engines) or report the voice")
        progress(f"[engine] {stage}: matches ONNX Runtime within the tolerance")
