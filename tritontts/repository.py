"""The Triton model repository, generated from one typed description of each model.

Each model is described once here (tensors, batching, instances, parameters); `config.pbtxt`
is rendered from that description through the model-config protobuf schema that `tritonclient`
ships, so a misspelt field or a wrong enum fails at build time, not at server start. The
`model.py` of each python model is copied from `model_repository/<name>/1/`; exported graphs
are linked in beside it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from tritontts.frontend import SENTENCE_PAUSE_S, FrontendLimits
from tritontts.streaming import WindowPlan
from tritontts.voice import ExportedVoice

SOURCES = Path(__file__).resolve().parent.parent / "model_repository"
LEXICON = "lexicon.txt"
CACHED_TTS_MODEL = "tts_cached"
CPU_RESOURCE = "cpu"
# The models a request can enter by; the stage models behind them are internal.
ENTRY_MODELS = ("tts", CACHED_TTS_MODEL, "tts_stream")
# The models that phonemize text (espeak-ng keeps memory per call: see recovery.py).
TEXT_MODELS = ("frontend", "tts_stream")


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str  # a model_config DataType name, e.g. "TYPE_FP32"
    dims: tuple[int, ...]
    optional: bool = False
    ragged: bool = False  # requests of different shapes may share a dynamic batch
    # The shape the model sees when it differs from the wire shape (e.g. [1] → [] per item).
    reshape: tuple[int, ...] | None = None


TimeoutAction = Literal["REJECT", "DELAY"]


@dataclass(frozen=True)
class Batching:
    """Dynamic batching of one model, with the policy of its request queue.

    The queue fields are Triton's `default_queue_policy`; 0 means "no limit", as in Triton.
    A request that finds the queue full is refused at once (UNAVAILABLE, "Exceeds maximum
    queue size"); one that waits longer than `queue_timeout_us` is refused (REJECT) or left
    queued at a lower priority (DELAY).
    """

    max_queue_delay_us: int
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_size: int = 0
    queue_timeout_us: int = 0
    timeout_action: TimeoutAction = "REJECT"
    allow_timeout_override: bool = False

    @property
    def has_queue_policy(self) -> bool:
        return bool(self.max_queue_size or self.queue_timeout_us or self.allow_timeout_override)


@dataclass(frozen=True)
class RateLimit:
    """Triton's rate limiter for a model's instances (the server runs with
    --rate-limit=execution_count): an instance runs a batch only while it holds `resources`
    (name -> count, shared by all models that name them); when several instances wait, one
    with priority 2 gets half the turns of one with priority 1."""

    resources: Mapping[str, int]
    priority: int = 1


@dataclass(frozen=True)
class PythonModel:
    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    max_batch_size: int
    instances: int
    parameters: Mapping[str, str] = field(default_factory=dict)
    batching: Batching | None = None
    rate_limit: RateLimit | None = None
    # Decoupled models send any number of responses per request (streaming).
    decoupled: bool = False
    # Files placed in the version folder beside model.py: {name in folder: source path}.
    files: Mapping[str, Path] = field(default_factory=dict)
    # The folder holding 1/model.py; None: model_repository/<name>.
    source_dir: Path | None = None


@dataclass(frozen=True)
class Warmup:
    """One warm-up request run at load time; inputs named here are zeros of the given dims,
    except those in `data`, raw little-endian bytes placed in the model's warmup/ folder."""

    name: str
    batch_size: int
    zeros: Mapping[str, tuple[str, tuple[int, ...]]]  # input -> (dtype, dims)
    data: Mapping[str, tuple[str, tuple[int, ...], bytes]] = field(default_factory=dict)


@dataclass(frozen=True)
class GraphModel:
    """A stage graph served by a native backend: TensorRT plan or ONNX Runtime (gpu profile)."""

    name: str
    platform: str  # "tensorrt_plan" or "onnxruntime_onnx"
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    max_batch_size: int
    instances: int
    batching: Batching
    default_model_filename: str
    files: Mapping[str, Path]
    # TensorRT engines per GPU compute capability: {"8.0": "model_sm80.plan"}.
    cc_model_filenames: Mapping[str, str] = field(default_factory=dict)
    warmup: tuple[Warmup, ...] = ()
    # CUDA graphs captured for these fixed shapes ({input: dims}, batch size 1 each).
    cuda_graph_shapes: tuple[Mapping[str, tuple[int, ...]], ...] = ()


@dataclass(frozen=True)
class Step:
    model: str
    inputs: Mapping[str, str]  # model input -> ensemble tensor
    outputs: Mapping[str, str]  # model output -> ensemble tensor


@dataclass(frozen=True)
class Ensemble:
    name: str
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    steps: tuple[Step, ...]
    # Triton's response cache: identical requests (same inputs, byte for byte) are answered
    # from the cache; it only works when the server runs with --cache-config.
    response_cache: bool = False


Model = PythonModel | GraphModel | Ensemble


@dataclass(frozen=True)
class CpuTuning:
    """Instances and threads for the cpu profile; the README says why these defaults."""

    acoustic_instances: int = 1
    acoustic_threads: int = 2
    vocoder_instances: int = 1
    vocoder_threads: int = 2
    frontend_instances: int = 1
    postprocess_instances: int = 1
    # Items per ONNX Runtime call inside a stage: padded batches do not pay on CPU.
    stage_sub_batch: int = 1
    # No waiting for a batch to fill: a stage runs one item at a time anyway, and requests that
    # arrive while it is busy still meet in the next batch. Waiting cost each request ~1.2 ms
    # per stage in single-stream latency.
    max_queue_delay_us: int = 0
    # Overload: the heavy stages keep short, bounded queues, so a burst above capacity is
    # refused at once (queue full) or after a bounded wait (timeout) instead of piling up.
    # acoustic is where a request enters the heavy work, so it is the admission gate: 8
    # waiting requests are ~0.3 s of work for short sentences here, and a request that could
    # not start within 2 s is refused so that its client can back off or go elsewhere. The
    # timeout is not tighter because one batch of long sentences takes seconds to run, and a
    # request queued behind it is not a sign of overload. vocoder only holds work acoustic
    # accepted and already paid for, so it gets twice the room and a timeout that only drops
    # audio nobody waits for any more. README "Overload" has the measured figures.
    # The heavy stages take turns on the CPU (a global "cpu" resource, a unit per thread, a
    # unit per core), and vocoder gets four turns for each of acoustic's. By default each
    # uses both cores, so running them at the
    # same time bought no throughput here (13.8 vs 13.7 requests/s), but under overload the
    # faster acoustic stage outran vocoder, whose queue then overflowed and threw away
    # acoustic's work. Served first, vocoder drains its queue every turn, and the backlog
    # waits at acoustic, the gate, where refusing costs nothing.
    take_turns_on_cpu: bool = True
    acoustic_queue_size: int = 8
    acoustic_queue_timeout_us: int = 2_000_000
    vocoder_queue_size: int = 16
    vocoder_queue_timeout_us: int = 10_000_000
    sentence_pause_s: float = SENTENCE_PAUSE_S
    stream_windows: WindowPlan = field(default_factory=WindowPlan)
    # Streams in progress at once per tts_stream instance (each on its own thread).
    max_concurrent_streams: int = 8


# Named cpu-profile settings (`tritontts repository --tuning NAME`). latency: each heavy stage
# one instance on both cores, for the fastest single request. throughput: two single-threaded
# instances per stage, up to one per core at a time, as single-threaded ONNX Runtime sessions
# side by side do more work per core than one session on two threads; a lone request is then
# slower. README "cpu profile" has the measurements.
CPU_TUNINGS = {
    "latency": CpuTuning(),
    "throughput": CpuTuning(acoustic_instances=2, acoustic_threads=1,
                            vocoder_instances=2, vocoder_threads=1),
}


# --- the tts pipeline -----------------------------------------------------------------------

TTS_INPUTS = (
    Tensor("TEXT", "TYPE_STRING", (1,)),
    # A speaker of a multi-speaker voice ("<speaker>" or "<voice>/<speaker>"); empty: the first.
    Tensor("VOICE", "TYPE_STRING", (1,), optional=True),
    Tensor("SPEED", "TYPE_FP32", (1,), optional=True),
    Tensor("NOISE_SCALE", "TYPE_FP32", (1,), optional=True),
    Tensor("NOISE_W", "TYPE_FP32", (1,), optional=True),
)
TTS_OUTPUTS = (
    Tensor("AUDIO", "TYPE_FP32", (-1,)),
    Tensor("SAMPLE_RATE", "TYPE_INT32", (1,)),
)


@dataclass(frozen=True)
class TextAndAudio:
    """How the python models around the two stage graphs are set up, in either profile."""

    limits: FrontendLimits
    lexicon: Path | None = None
    sentence_pause_s: float = SENTENCE_PAUSE_S
    frontend_instances: int = 1
    postprocess_instances: int = 1
    stream_windows: WindowPlan = field(default_factory=WindowPlan)
    max_concurrent_streams: int = 8
    # Pad phoneme ids to these lengths so that requests share shapes (native backends batch
    # only equal shapes); empty: pad to the request's longest chunk.
    length_buckets: tuple[int, ...] = ()


Voices = ExportedVoice | Sequence[ExportedVoice]


def voice_list(voices: Voices) -> tuple[ExportedVoice, ...]:
    """The voices of one repository, the default voice first; names must tell them apart."""
    voices = (voices,) if isinstance(voices, ExportedVoice) else tuple(voices)
    names = [v.name for v in voices]
    if not voices:
        raise RenderError("a repository serves at least one voice")
    if len(set(names)) != len(names):
        raise RenderError(f"two voices share a name in {names}; rename one voice's files")
    for name in names:
        if not name or "/" in name or name.startswith("."):
            raise RenderError(f"voice name {name!r} cannot name a folder")
    return voices


def voices_parameter(voices: Sequence[ExportedVoice], key: str | None = None,
                     source: Callable[[ExportedVoice], Path] | None = None
                     ) -> tuple[dict[str, str], dict[str, Path]]:
    """The `voices` parameter of a model serving these voices (name, sample rate, hop length,
    and under `key` its own file of each voice, placed in `<voice>/`), and those files."""
    entries, files = [], {}
    for voice in voices:
        entry: dict[str, object] = {
            "name": voice.name, "sample_rate": voice.sample_rate, "hop_length": voice.hop_length,
            "latent_channels": voice.latent_channels,
            "speaker_embedding_channels": voice.speaker_embedding_channels}
        if key is not None and source is not None:
            path = source(voice)
            entry[key] = files_key = f"{voice.name}/{path.name}"
            files[files_key] = path
        entries.append(entry)
    return {"voices": json.dumps(entries)}, files


def _text_parameters(voices: Sequence[ExportedVoice],
                     setup: TextAndAudio) -> tuple[dict[str, str], dict[str, Path]]:
    """Parameters and files of a model that reads text (`frontend`, `tts_stream`)."""
    limits = setup.limits
    parameters, files = voices_parameter(voices, "config", lambda v: v.config)
    parameters.update({"max_text_chars": str(limits.max_text_chars),
                       "max_phoneme_ids": str(limits.max_phoneme_ids),
                       "max_chunks": str(limits.max_chunks),
                       "sentence_pause_s": str(setup.sentence_pause_s)})
    if setup.length_buckets:
        parameters["length_buckets"] = ",".join(str(n) for n in setup.length_buckets)
    if setup.lexicon is not None:
        parameters["lexicon"] = LEXICON
        files[LEXICON] = setup.lexicon
    return parameters, files


# Frontend outputs → the ensemble tensors (named as the acoustic graph's inputs).
FRONTEND_TO_STAGE = {"PHONEME_IDS": "phoneme_ids", "PHONEME_LENGTHS": "phoneme_lengths",
                     "SCALES": "scales", "PAUSES": "pauses", "SPEAKER_IDS": "speaker_id",
                     "VOICE_INDEX": "voice_index"}


def speaker_tensors(voices: Sequence[ExportedVoice]
                    ) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """(acoustic input, speaker-embedding tensor) when a voice has several speakers; empty
    otherwise. Sized for the largest embedding (voices with none get zeros)."""
    if all(v.num_speakers <= 1 for v in voices):
        return (), ()
    channels = max(v.speaker_embedding_channels for v in voices)
    return ((Tensor("speaker_id", "TYPE_INT64", (1,)),),
            (Tensor("speaker_embedding", "TYPE_FP32", (channels, 1)),))


def voice_tensors(voices: Sequence[ExportedVoice]) -> tuple[Tensor, ...]:
    """The per-chunk voice choice the stages take when a repository serves several voices."""
    return (Tensor("voice_index", "TYPE_INT64", (1,)),) if len(voices) > 1 else ()


def pipeline_models(voices: Voices, acoustic: Model, vocoder: Model,
                    setup: TextAndAudio) -> list[Model]:
    """frontend → acoustic → vocoder → postprocess as the `tts` ensemble, and `tts_stream`,
    around whichever acoustic and vocoder models the profile serves. With several voices, the
    frontend tells every later step each chunk's voice (`voice_index`)."""
    voices = voice_list(voices)
    text_parameters, text_files = _text_parameters(voices, setup)
    multi_speaker = bool(speaker_tensors(voices)[0])
    choice = voice_tensors(voices)
    frontend = PythonModel(
        name="frontend",
        inputs=TTS_INPUTS,
        outputs=(
            Tensor("PHONEME_IDS", "TYPE_INT64", (-1, -1)),
            Tensor("PHONEME_LENGTHS", "TYPE_INT64", (-1, 1)),
            Tensor("SCALES", "TYPE_FP32", (-1, 3)),
            Tensor("PAUSES", "TYPE_FP32", (-1, 1)),
            *((Tensor("SPEAKER_IDS", "TYPE_INT64", (-1, 1)),) if multi_speaker else ()),
            *(Tensor("VOICE_INDEX", "TYPE_INT64", (-1, 1)) for _ in choice),
        ),
        max_batch_size=0,
        instances=setup.frontend_instances,
        parameters=text_parameters,
        files=text_files,
    )
    postprocess = PythonModel(
        name="postprocess",
        inputs=(
            Tensor("WAVEFORM", "TYPE_FP32", (-1, -1)),
            Tensor("FRAME_LENGTHS", "TYPE_INT64", (-1, 1)),
            Tensor("PAUSES", "TYPE_FP32", (-1, 1)),
            *(Tensor("VOICE_INDEX", "TYPE_INT64", (-1, 1)) for _ in choice),
        ),
        outputs=TTS_OUTPUTS,
        max_batch_size=0,
        instances=setup.postprocess_instances,
        parameters=voices_parameter(voices)[0],
    )
    vocoder_inputs = {t.name: t.name for t in vocoder.inputs}  # latent (+ frame_lengths)
    tts = Ensemble(
        name="tts",
        inputs=TTS_INPUTS,
        outputs=TTS_OUTPUTS,
        steps=(
            Step("frontend", {t.name: t.name for t in TTS_INPUTS},
                 {t.name: FRONTEND_TO_STAGE[t.name] for t in frontend.outputs}),
            Step("acoustic", {t.name: t.name for t in acoustic.inputs},
                 {t.name: t.name for t in acoustic.outputs}),
            Step("vocoder", vocoder_inputs, {"waveform": "waveform"}),
            Step("postprocess", {"WAVEFORM": "waveform", "FRAME_LENGTHS": "frame_lengths",
                                 "PAUSES": "pauses",
                                 **({"VOICE_INDEX": "voice_index"} if choice else {})},
                 {"AUDIO": "AUDIO", "SAMPLE_RATE": "SAMPLE_RATE"}),
        ),
    )
    # The same pipeline behind Triton's response cache, for callers who opt in: with the
    # voice's default noise scales every synthesis is a fresh random draw, and a cache would
    # silently turn that into the same audio for the same text. Opting in per request (by
    # calling this model) keeps `tts` as it was and makes repeated prompts ~1 ms.
    tts_cached = Ensemble(name=CACHED_TTS_MODEL, inputs=TTS_INPUTS, outputs=TTS_OUTPUTS,
                          steps=tts.steps, response_cache=True)
    windows = setup.stream_windows
    tts_stream = PythonModel(
        name="tts_stream",
        inputs=TTS_INPUTS,
        outputs=TTS_OUTPUTS,
        max_batch_size=0,
        instances=1,
        decoupled=True,
        parameters={**text_parameters,
                    "first_window_frames": str(windows.first_frames),
                    "max_window_frames": str(windows.max_frames),
                    "window_growth": str(windows.growth),
                    "window_context_frames": str(windows.context_frames),
                    "max_concurrent_streams": str(setup.max_concurrent_streams)},
        files=text_files,
    )
    return [frontend, acoustic, vocoder, postprocess, tts, tts_cached, tts_stream]


def cpu_models(voices: Voices, tuning: CpuTuning | None = None,
               limits: FrontendLimits | None = None, lexicon: Path | None = None) -> list[Model]:
    """The cpu profile: every stage a python-backend model, ONNX stages on ONNX Runtime.

    `voices`: one exported voice, or several served side by side (the first is the default);
    each stage model holds a session per voice and VOICE picks one per request.

    `lexicon`: the deployment's pronunciation dictionary (word → IPA), copied into the
    repository and named in the text-reading models' parameters.
    """
    tuning = tuning or CpuTuning()
    limits = limits or FrontendLimits()
    voices = voice_list(voices)
    speaker_id, speaker_embedding = speaker_tensors(voices)
    choice = voice_tensors(voices)
    # Voices with fewer latent channels are zero-padded to the widest in a mixed batch.
    channels = max(v.latent_channels for v in voices)
    acoustic = _onnx_stage(
        "acoustic", voices, lambda v: v.acoustic, tuning, limits,
        inputs=(
            Tensor("phoneme_ids", "TYPE_INT64", (-1,), ragged=True),
            Tensor("phoneme_lengths", "TYPE_INT64", (1,)),
            Tensor("scales", "TYPE_FP32", (3,)),
            *speaker_id,
            *choice,
        ),
        outputs=(
            Tensor("latent", "TYPE_FP32", (channels, -1)),
            Tensor("frame_lengths", "TYPE_INT64", (1,)),
            *speaker_embedding,
        ))
    vocoder = _onnx_stage(
        "vocoder", voices, lambda v: v.vocoder, tuning, limits,
        inputs=(
            Tensor("latent", "TYPE_FP32", (channels, -1), ragged=True),
            # Optional: the ONNX Runtime runner decodes each item at its true length with it.
            Tensor("frame_lengths", "TYPE_INT64", (1,), optional=True),
            *speaker_embedding,
            *choice,
        ),
        outputs=(Tensor("waveform", "TYPE_FP32", (-1,)),))
    setup = TextAndAudio(limits=limits, lexicon=lexicon, sentence_pause_s=tuning.sentence_pause_s,
                         frontend_instances=tuning.frontend_instances,
                         postprocess_instances=tuning.postprocess_instances,
                         stream_windows=tuning.stream_windows,
                         max_concurrent_streams=tuning.max_concurrent_streams)
    return pipeline_models(voices, acoustic, vocoder, setup)


# When both heavy stages wait for the CPU, vocoder gets four turns for each of acoustic's.
TURN_PRIORITY = {"acoustic": 4, "vocoder": 1}


def _onnx_stage(stage: str, voices: Sequence[ExportedVoice],
                graph: Callable[[ExportedVoice], Path], tuning: CpuTuning,
                limits: FrontendLimits, inputs: tuple[Tensor, ...],
                outputs: tuple[Tensor, ...]) -> PythonModel:
    """A heavy stage of the cpu profile: a python model running each voice's ONNX graph on
    ONNX Runtime, with the stage's instances, threads, queue and CPU turns from `tuning`."""
    threads = getattr(tuning, f"{stage}_threads")
    parameters, files = voices_parameter(voices, "onnx_model", graph)
    return PythonModel(
        name=stage, inputs=inputs, outputs=outputs,
        max_batch_size=limits.max_chunks,
        instances=getattr(tuning, f"{stage}_instances"),
        # No timeout override: measured on 2.51, the ensemble does not pass a request's own
        # timeout on to its steps, and a direct caller could at best shorten the wait, so the
        # only effect of allowing it would be a second, unused way to set the same limit.
        batching=Batching(tuning.max_queue_delay_us,
                          max_queue_size=getattr(tuning, f"{stage}_queue_size"),
                          queue_timeout_us=getattr(tuning, f"{stage}_queue_timeout_us")),
        # An instance holds one unit of the "cpu" resource per thread it runs; the server has
        # one unit per core (see `cpu_units_asked`), so stages run side by side only while
        # cores last.
        rate_limit=(RateLimit({CPU_RESOURCE: threads}, priority=TURN_PRIORITY[stage])
                    if tuning.take_turns_on_cpu else None),
        parameters={**parameters, "threads": str(threads),
                    "sub_batch": str(tuning.stage_sub_batch)},
        files=files,
    )


# --- rendering ------------------------------------------------------------------------------


class RenderError(ValueError):
    """A model description is incomplete or inconsistent."""


def _tensor_proto(tensor: Tensor, message: type) -> object:
    if not tensor.name or not tensor.dims:
        raise RenderError(f"tensor {tensor!r} needs a name and dims")
    proto = message(name=tensor.name, data_type=mc.DataType.Value(tensor.dtype),
                    dims=list(tensor.dims))
    if isinstance(proto, mc.ModelInput):
        proto.optional = tensor.optional
        proto.allow_ragged_batch = tensor.ragged
    if tensor.reshape is not None:
        proto.reshape.shape.extend(tensor.reshape)
    return proto


def to_config(model: Model) -> mc.ModelConfig:
    config = mc.ModelConfig(name=model.name)
    config.input.extend(_tensor_proto(t, mc.ModelInput) for t in model.inputs)
    config.output.extend(_tensor_proto(t, mc.ModelOutput) for t in model.outputs)
    if isinstance(model, Ensemble):
        config.platform = "ensemble"
        _check_ensemble(model)
        for step in model.steps:
            proto = config.ensemble_scheduling.step.add(model_name=step.model, model_version=-1)
            proto.input_map.update(step.inputs)
            proto.output_map.update(step.outputs)
        if model.response_cache:
            config.response_cache.enable = True
        return config
    if isinstance(model, GraphModel):
        return _graph_config(config, model)
    config.backend = "python"
    config.max_batch_size = model.max_batch_size
    if model.decoupled:
        config.model_transaction_policy.decoupled = True
    if model.instances < 1:
        raise RenderError(f"{model.name}: instances must be >= 1")
    group = config.instance_group.add(count=model.instances, kind=mc.ModelInstanceGroup.KIND_CPU)
    if model.rate_limit is not None:
        if model.rate_limit.priority < 1 or any(n < 1 for n in model.rate_limit.resources.values()):
            raise RenderError(f"{model.name}: rate-limit priority and counts must be >= 1")
        for name, count in model.rate_limit.resources.items():
            group.rate_limiter.resources.append(
                mc.ModelRateLimiter.Resource(**{"name": name, "global": True, "count": count}))
        group.rate_limiter.priority = model.rate_limit.priority
    _batching(config, model)
    for key, value in model.parameters.items():
        if value in ("", None):
            raise RenderError(f"{model.name}: parameter {key!r} has no value")
        config.parameters[key].string_value = value
    return config


def _batching(config: mc.ModelConfig, model: PythonModel | GraphModel) -> None:
    batching = model.batching
    if batching is None:
        return
    if model.max_batch_size < 1:
        raise RenderError(f"{model.name}: dynamic batching needs max_batch_size >= 1")
    config.dynamic_batching.max_queue_delay_microseconds = batching.max_queue_delay_us
    config.dynamic_batching.preferred_batch_size.extend(batching.preferred_batch_sizes)
    if batching.has_queue_policy:
        _queue_policy(model.name, batching, config.dynamic_batching.default_queue_policy)


def _graph_config(config: mc.ModelConfig, model: GraphModel) -> mc.ModelConfig:
    if model.platform not in ("tensorrt_plan", "onnxruntime_onnx"):
        raise RenderError(f"{model.name}: unknown platform {model.platform!r}")
    config.platform = model.platform
    config.max_batch_size = model.max_batch_size
    config.default_model_filename = model.default_model_filename
    config.cc_model_filenames.update(model.cc_model_filenames)
    config.version_policy.latest.num_versions = 1
    if model.instances < 1:
        raise RenderError(f"{model.name}: instances must be >= 1")
    config.instance_group.add(count=model.instances, kind=mc.ModelInstanceGroup.KIND_GPU)
    _batching(config, model)
    for warmup in model.warmup:
        sample = config.model_warmup.add(name=warmup.name, batch_size=warmup.batch_size)
        for name, (dtype, dims) in warmup.zeros.items():
            sample.inputs[name].data_type = mc.DataType.Value(dtype)
            sample.inputs[name].dims.extend(dims)
            sample.inputs[name].zero_data = True
        for name, (dtype, dims, _) in warmup.data.items():
            sample.inputs[name].data_type = mc.DataType.Value(dtype)
            sample.inputs[name].dims.extend(dims)
            sample.inputs[name].input_data_file = f"{warmup.name}_{name}"
    if model.cuda_graph_shapes:
        if model.platform != "tensorrt_plan":
            raise RenderError(f"{model.name}: CUDA graphs are a TensorRT backend feature")
        cuda = config.optimization.cuda
        cuda.graphs = True
        for shapes in model.cuda_graph_shapes:
            spec = cuda.graph_spec.add(batch_size=1)
            for name, dims in shapes.items():
                spec.input[name].dim.extend(dims)
    return config


def _queue_policy(name: str, batching: Batching, policy: mc.ModelQueuePolicy) -> None:
    if batching.max_queue_size < 0 or batching.queue_timeout_us < 0:
        raise RenderError(f"{name}: queue size and timeout must be >= 0 (0 = no limit)")
    policy.timeout_action = mc.ModelQueuePolicy.TimeoutAction.Value(batching.timeout_action)
    policy.default_timeout_microseconds = batching.queue_timeout_us
    policy.allow_timeout_override = batching.allow_timeout_override
    policy.max_queue_size = batching.max_queue_size


def _check_ensemble(ensemble: Ensemble) -> None:
    known = {t.name for t in ensemble.inputs}
    for step in ensemble.steps:
        missing = set(step.inputs.values()) - known
        if missing:
            raise RenderError(f"{ensemble.name}: step {step.model} reads {sorted(missing)} "
                              "before any step writes them")
        known |= set(step.outputs.values())
    unproduced = {t.name for t in ensemble.outputs} - known
    if unproduced:
        raise RenderError(f"{ensemble.name}: outputs {sorted(unproduced)} are never produced")


def render(model: Model) -> str:
    return text_format.MessageToString(to_config(model))


def parse(text: str) -> mc.ModelConfig:
    return text_format.Parse(text, mc.ModelConfig())


def _place(source: Path, target: Path) -> None:
    """Hard-link big graphs where the file system allows it, copy otherwise."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def write_repository(models: list[Model], out_dir: Path) -> Path:
    """Write a fresh repository: config.pbtxt for each model, model.py and files beside it."""
    rendered = {m.name: render(m) for m in models}  # render all first: fail before writing
    if out_dir.exists():
        shutil.rmtree(out_dir)
    for model in models:
        model_dir = out_dir / model.name
        version_dir = model_dir / "1"
        version_dir.mkdir(parents=True)
        (model_dir / "config.pbtxt").write_text(rendered[model.name])
        if isinstance(model, PythonModel):
            source = (model.source_dir or SOURCES / model.name) / "1" / "model.py"
            if not source.exists():
                raise RenderError(f"{model.name}: no {source}")
            shutil.copyfile(source, version_dir / "model.py")
        if isinstance(model, GraphModel):
            for warmup in model.warmup:
                (model_dir / "warmup").mkdir(exist_ok=True)
                for name, (_, _, data) in warmup.data.items():
                    (model_dir / "warmup" / f"{warmup.name}_{name}").write_bytes(data)
        if isinstance(model, PythonModel | GraphModel):
            for name, path in model.files.items():
                if not Path(path).exists():
                    raise RenderError(f"{model.name}: {path} does not exist; run `make export`")
                _place(Path(path), version_dir / name)
    return out_dir


def cpu_units_asked(repository: Path) -> int:
    """The most units of the global "cpu" rate-limiter resource one instance of the
    repository's models asks for (0: none takes turns). The server must offer at least that
    many, or such an instance could never run."""
    asked = 0
    for config_path in Path(repository).glob("*/config.pbtxt"):
        for group in parse(config_path.read_text()).instance_group:
            for resource in group.rate_limiter.resources:
                if resource.name == CPU_RESOURCE:
                    asked = max(asked, resource.count)
    return asked
