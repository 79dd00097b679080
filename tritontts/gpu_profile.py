"""The gpu profile: the stage graphs on Triton's native backends in the NGC container.

`acoustic` and `vocoder` run as TensorRT plans (`tensorrt_plan`, one engine per GPU compute
capability through `cc_model_filenames`) when `make export ENGINES=1` built them on a GPU host,
otherwise as ONNX graphs on ONNX Runtime (`onnxruntime_onnx`, the cleaned FP32 graphs), with
KIND_GPU instances so that both stages (and other models) share one GPU. The text and audio
models around them stay python, exactly as in the cpu profile.

TensorRT and Triton's native backends batch only requests of equal shapes: the frontend pads
phoneme ids to a few bucket lengths so that requests meet in the acoustic stage's batches.
Latent lengths differ from request to request, so the vocoder batches what matches; streaming
windows, whose shapes repeat, also get CUDA graphs.

This profile cannot run on a machine without a GPU; tests render and parse every config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tritontts.frontend import GPU_LIMITS, FrontendLimits
from tritontts.repository import (
    Batching,
    GraphModel,
    Model,
    Tensor,
    TextAndAudio,
    Warmup,
    pipeline_models,
)
from tritontts.streaming import WindowPlan, plan_windows
from tritontts.voice import ExportedVoice

ONNX_FILENAME = "model.onnx"
PLAN_FILENAME = "model.plan"


@dataclass(frozen=True)
class GpuTuning:
    # Two instances per stage let one copy compute while the other's batch is being formed.
    acoustic_instances: int = 2
    vocoder_instances: int = 2
    preferred_batch_sizes: tuple[int, ...] = (4, 8, 16)
    max_queue_delay_us: int = 2000
    # The python models run on the host's CPU cores.
    frontend_instances: int = 4
    postprocess_instances: int = 2
    length_buckets: tuple[int, ...] = (32, 64, 128, 256, 400)
    # Phoneme ids of the warm-up request (a typical sentence).
    warmup_phonemes: int = 128
    warmup_frames: int = 280


@dataclass(frozen=True)
class StagePlans:
    """TensorRT engines of one stage: the folder holding them and {capability: file}."""

    directory: Path
    cc_model_filenames: Mapping[str, str]


def _files(plans: StagePlans | None, onnx_graph: Path) -> tuple[str, str, dict[str, Path]]:
    if plans is None:
        return "onnxruntime_onnx", ONNX_FILENAME, {ONNX_FILENAME: onnx_graph}
    files = {name: plans.directory / name for name in plans.cc_model_filenames.values()}
    files[PLAN_FILENAME] = plans.directory / PLAN_FILENAME
    return "tensorrt_plan", PLAN_FILENAME, files


def stream_window_frames(plan: WindowPlan, longest: int = 2048) -> list[int]:
    """The latent lengths the streaming model sends the vocoder (context included)."""
    return sorted({w.context_end - w.context_start for w in plan_windows(longest, plan)})


def gpu_models(voice: ExportedVoice, onnx_graphs: Mapping[str, Path],
               plans: Mapping[str, StagePlans] | None = None, tuning: GpuTuning | None = None,
               limits: FrontendLimits = GPU_LIMITS, lexicon: Path | None = None,
               windows: WindowPlan | None = None) -> list[Model]:
    """onnx_graphs: {"acoustic": path, "vocoder": path} (served when no plan was built)."""
    tuning = tuning or GpuTuning()
    plans = plans or {}
    windows = windows or WindowPlan()
    if max(tuning.length_buckets) < limits.max_phoneme_ids:
        raise ValueError("the largest length bucket must hold max_phoneme_ids")
    batching = Batching(tuning.max_queue_delay_us, tuning.preferred_batch_sizes)
    channels = voice.latent_channels
    # A multi-speaker voice: the graphs' speaker_id [B] and speaker_embedding [B, E, 1]; the
    # warm-up requests speak as speaker 0 (zeros).
    embedding = voice.speaker_embedding_channels if voice.num_speakers > 1 else 0
    speaker_input = ((Tensor("speaker_id", "TYPE_INT64", (1,), reshape=()),)
                     if embedding else ())
    speaker_embedding = ((Tensor("speaker_embedding", "TYPE_FP32", (embedding, 1)),)
                         if embedding else ())

    platform, filename, files = _files(plans.get("acoustic"), onnx_graphs["acoustic"])
    lengths = np.array([tuning.warmup_phonemes], dtype=np.int64)
    scales = np.array([0.667, 1.0, 0.8], dtype=np.float32)
    acoustic = GraphModel(
        name="acoustic", platform=platform, default_model_filename=filename, files=files,
        cc_model_filenames=dict(plans["acoustic"].cc_model_filenames) if "acoustic" in plans
        else {},
        inputs=(
            Tensor("phoneme_ids", "TYPE_INT64", (-1,)),
            Tensor("phoneme_lengths", "TYPE_INT64", (1,), reshape=()),
            Tensor("scales", "TYPE_FP32", (3,)),
            *speaker_input,
        ),
        outputs=(
            Tensor("latent", "TYPE_FP32", (channels, -1)),
            Tensor("frame_lengths", "TYPE_INT64", (1,), reshape=()),
            *speaker_embedding,
        ),
        max_batch_size=limits.max_chunks,
        instances=tuning.acoustic_instances,
        batching=batching,
        # Ids of zeros are all PAD: a valid sentence of silence with the voice's own scales.
        warmup=(Warmup(
            name="sentence", batch_size=1,
            zeros={"phoneme_ids": ("TYPE_INT64", (tuning.warmup_phonemes,)),
                   **({"speaker_id": ("TYPE_INT64", (1,))} if embedding else {})},
            data={"phoneme_lengths": ("TYPE_INT64", (1,), lengths.tobytes()),
                  "scales": ("TYPE_FP32", (3,), scales.tobytes())}),),
    )
    platform, filename, files = _files(plans.get("vocoder"), onnx_graphs["vocoder"])
    vocoder = GraphModel(
        name="vocoder", platform=platform, default_model_filename=filename, files=files,
        cc_model_filenames=dict(plans["vocoder"].cc_model_filenames) if "vocoder" in plans
        else {},
        inputs=(Tensor("latent", "TYPE_FP32", (channels, -1)), *speaker_embedding),
        outputs=(Tensor("waveform", "TYPE_FP32", (-1,)),),
        max_batch_size=limits.max_chunks,
        instances=tuning.vocoder_instances,
        batching=batching,
        warmup=(Warmup(name="sentence", batch_size=1,
                       zeros={"latent": ("TYPE_FP32", (channels, tuning.warmup_frames)),
                              **({"speaker_embedding": ("TYPE_FP32", (embedding, 1))}
                                 if embedding else {})}),),
        cuda_graph_shapes=tuple({"latent": (channels, frames),
                                 **({"speaker_embedding": (embedding, 1)} if embedding else {})}
                                for frames in stream_window_frames(windows))
        if platform == "tensorrt_plan" else (),
    )
    setup = TextAndAudio(limits=limits, lexicon=lexicon,
                         frontend_instances=tuning.frontend_instances,
                         postprocess_instances=tuning.postprocess_instances,
                         stream_windows=windows, length_buckets=tuning.length_buckets)
    return pipeline_models(voice, acoustic, vocoder, setup)
