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
from pathlib import Path

import numpy as np

from tritontts.piper.frontend import GPU_LIMITS, FrontendLimits
from tritontts.piper.pipeline import Deployment, pipeline_models
from tritontts.piper.tuning import GpuTuning
from tritontts.piper.voice import ExportedVoice
from tritontts.piper.windows import WindowPlan, plan_windows
from tritontts.repository.engines import (
    TENSORRT_PLATFORM,
    StagePlans,
    cc_model_filenames,
    graph_files,
)
from tritontts.repository.schema import Batching, GraphModel, Model, Tensor, Warmup
from tritontts_client import contract as c

__all__ = ["GpuTuning", "find_plans", "gpu_models", "served_graphs", "stream_window_frames"]


def stream_window_frames(plan: WindowPlan, longest: int = 2048) -> list[int]:
    """The latent lengths the streaming model sends the vocoder (context included)."""
    return sorted({w.context_end - w.context_start for w in plan_windows(longest, plan)})


def gpu_models(voice: ExportedVoice, onnx_graphs: Mapping[str, Path],
               plans: Mapping[str, StagePlans] | None = None, tuning: GpuTuning | None = None,
               limits: FrontendLimits = GPU_LIMITS, lexicon: Path | None = None
               ) -> list[Model]:
    """onnx_graphs: {"acoustic": path, "vocoder": path} (served when no plan was built)."""
    tuning = tuning or GpuTuning()
    plans = plans or {}
    windows = tuning.stream_windows
    if max(tuning.length_buckets) < limits.max_phoneme_ids:
        raise ValueError("the largest length bucket must hold max_phoneme_ids")
    batching = Batching(tuning.max_queue_delay_us, tuning.preferred_batch_sizes,
                        priority_levels=tuning.priority_levels,
                        default_priority_level=tuning.default_priority_level)
    channels = voice.latent_channels
    # A multi-speaker voice: the graphs' speaker_id [B] and speaker_embedding [B, E, 1]; the
    # warm-up requests speak as speaker 0 (zeros).
    embedding = voice.speaker_embedding_channels if voice.num_speakers > 1 else 0
    speaker_input = ((Tensor.of(c.SPEAKER_ID, (1,), reshape=()),)
                     if embedding else ())
    speaker_embedding = ((Tensor.of(c.SPEAKER_EMBEDDING, (embedding, 1)),)
                         if embedding else ())

    graph = graph_files(plans.get(c.ACOUSTIC_MODEL), onnx_graphs[c.ACOUSTIC_MODEL])
    lengths = np.array([tuning.warmup_phonemes], dtype=np.int64)
    scales = np.array([0.667, 1.0, 0.8], dtype=np.float32)
    acoustic = GraphModel(
        name=c.ACOUSTIC_MODEL, platform=graph.platform, default_model_filename=graph.filename,
        files=graph.files, cc_model_filenames=graph.engines,
        inputs=(
            Tensor.of(c.PHONEME_IDS, (-1,)),
            Tensor.of(c.PHONEME_LENGTHS, (1,), reshape=()),
            Tensor.of(c.SCALES, (3,)),
            *speaker_input,
        ),
        outputs=(
            Tensor.of(c.LATENT, (channels, -1)),
            Tensor.of(c.FRAME_LENGTHS, (1,), reshape=()),
            Tensor.of(c.PHONEME_DURATIONS, (-1,)),
            *speaker_embedding,
        ),
        max_batch_size=limits.max_chunks,
        instances=tuning.acoustic.instances,
        batching=batching,
        # Ids of zeros are all PAD: a valid sentence of silence with the voice's own scales.
        warmup=(Warmup(
            name="sentence", batch_size=1,
            zeros={c.PHONEME_IDS.name: (c.PHONEME_IDS.config_type, (tuning.warmup_phonemes,)),
                   **({c.SPEAKER_ID.name: (c.SPEAKER_ID.config_type, (1,))} if embedding
                      else {})},
            data={c.PHONEME_LENGTHS.name: (c.PHONEME_LENGTHS.config_type, (1,),
                                           lengths.tobytes()),
                  c.SCALES.name: (c.SCALES.config_type, (3,), scales.tobytes())}),),
    )
    graph = graph_files(plans.get(c.VOCODER_MODEL), onnx_graphs[c.VOCODER_MODEL])
    vocoder = GraphModel(
        name=c.VOCODER_MODEL, platform=graph.platform, default_model_filename=graph.filename,
        files=graph.files, cc_model_filenames=graph.engines,
        inputs=(Tensor.of(c.LATENT, (channels, -1)), *speaker_embedding),
        outputs=(Tensor.of(c.WAVEFORM, (-1,)),),
        max_batch_size=limits.max_chunks,
        instances=tuning.vocoder.instances,
        batching=batching,
        warmup=(Warmup(name="sentence", batch_size=1,
                       zeros={c.LATENT.name: (c.LATENT.config_type,
                                             (channels, tuning.warmup_frames)),
                              **({c.SPEAKER_EMBEDDING.name: (c.SPEAKER_EMBEDDING.config_type,
                                                             (embedding, 1))}
                                 if embedding else {})}),),
        cuda_graph_shapes=tuple({c.LATENT.name: (channels, frames),
                                 **({c.SPEAKER_EMBEDDING.name: (embedding, 1)} if embedding
                                    else {})}
                                for frames in stream_window_frames(windows))
        if graph.platform == TENSORRT_PLATFORM else (),
    )
    return pipeline_models(voice, acoustic, vocoder, tuning, Deployment(limits, lexicon))


def served_graphs(voice: ExportedVoice) -> dict[str, Path]:
    """The ONNX graph each stage serves when it has no engine: the cleaned graph when
    `make export` wrote it, else the graph of the cut."""
    graphs = {}
    for stage in c.STAGES:
        cleaned = voice.stage_graph(stage, "opt")
        graphs[stage] = cleaned if cleaned.exists() else voice.stage_graph(stage)
    return graphs


def find_plans(engines_dir: Path) -> dict[str, StagePlans]:
    """The engines `make export ENGINES=1` wrote under engines_dir/<stage>/1/, by stage."""
    plans = {}
    for stage in c.STAGES:
        folder = Path(engines_dir) / stage / "1"
        engines = cc_model_filenames(folder) if folder.is_dir() else {}
        if engines:
            plans[stage] = StagePlans(folder, engines)
    return plans
