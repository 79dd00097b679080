"""The cpu profile: every stage a python-backend model, the stage graphs on ONNX Runtime.

Runs anywhere, on the `tritonserver` that the nvidia-pytriton wheel carries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from tritontts.piper.frontend import FrontendLimits
from tritontts.piper.pipeline import (
    SOURCES,
    Deployment,
    Voices,
    pipeline_models,
    speaker_channels,
    voice_list,
    voice_tensors,
    voices_parameter,
)
from tritontts.piper.runtimes import check_choice
from tritontts.piper.tuning import CPU_RUNTIMES, CPU_TUNINGS, CpuTuning
from tritontts.piper.voice import ExportedVoice
from tritontts.repository.schema import Batching, Model, PythonModel, RateLimit, Tensor
from tritontts_client import contract as c

__all__ = ["CPU_RUNTIMES", "CPU_TUNINGS", "CpuTuning", "cpu_models"]


def cpu_models(voices: Voices, tuning: CpuTuning | None = None,
               limits: FrontendLimits | None = None, lexicon: Path | None = None) -> list[Model]:
    """The cpu profile of these voices.

    `voices`: one exported voice, or several served side by side (the first is the default);
    each stage model holds a session per voice and VOICE picks one per request.

    `lexicon`: the deployment's pronunciation dictionary (word → IPA), copied into the
    repository and named in the text-reading models' parameters.
    """
    tuning = tuning or CpuTuning()
    deployment = Deployment(limits or FrontendLimits(), lexicon)
    voices = voice_list(voices)
    embedding = speaker_channels(voices)
    speaker_id = (Tensor.of(c.SPEAKER_ID, (1,)),) if embedding else ()
    speaker_embedding = (Tensor.of(c.SPEAKER_EMBEDDING, (embedding, 1)),) if embedding else ()
    choice = voice_tensors(voices)
    # Voices with fewer latent channels are zero-padded to the widest in a mixed batch.
    channels = max(v.latent_channels for v in voices)
    acoustic = _onnx_stage(
        c.ACOUSTIC_MODEL, voices, lambda v: v.acoustic, tuning, deployment.limits,
        inputs=(
            Tensor.of(c.PHONEME_IDS, (-1,), ragged=True),
            Tensor.of(c.PHONEME_LENGTHS, (1,)),
            Tensor.of(c.SCALES, (3,)),
            *speaker_id,
            *choice,
        ),
        outputs=(
            Tensor.of(c.LATENT, (channels, -1)),
            Tensor.of(c.FRAME_LENGTHS, (1,)),
            Tensor.of(c.PHONEME_DURATIONS, (-1,)),
            *speaker_embedding,
        ))
    vocoder = _onnx_stage(
        c.VOCODER_MODEL, voices, lambda v: v.vocoder, tuning, deployment.limits,
        inputs=(
            Tensor.of(c.LATENT, (channels, -1), ragged=True),
            # Optional: the ONNX Runtime runner decodes each item at its true length with it.
            Tensor.of(c.FRAME_LENGTHS, (1,), optional=True),
            *speaker_embedding,
            *choice,
        ),
        outputs=(Tensor.of(c.WAVEFORM, (-1,)),))
    return pipeline_models(voices, acoustic, vocoder, tuning, deployment)


def _onnx_stage(stage: str, voices: Sequence[ExportedVoice],
                graph: Callable[[ExportedVoice], Path], tuning: CpuTuning,
                limits: FrontendLimits, inputs: tuple[Tensor, ...],
                outputs: tuple[Tensor, ...]) -> PythonModel:
    """A heavy stage of the cpu profile: a python model running each voice's ONNX graph on
    ONNX Runtime or OpenVINO, with the stage's instances, threads, queue, CPU turns, runtime and
    precision from `tuning`."""
    settings = tuning.stage(stage)
    check_choice(stage, settings.runtime, settings.precision)
    parameters, files = voices_parameter(voices, c.VOICE_GRAPH_FILE, graph)
    # Rendered only off the defaults, which the runner assumes when they are absent.
    if settings.runtime != c.RUNTIME_ONNXRUNTIME:
        parameters[c.PARAM_RUNTIME] = settings.runtime
    if settings.precision != c.PRECISION_F32:
        parameters[c.PARAM_PRECISION] = settings.precision
    return PythonModel(
        name=stage, inputs=inputs, outputs=outputs,
        max_batch_size=limits.max_chunks,
        instances=settings.instances,
        # No timeout override: measured on 2.51, the ensemble does not pass a request's own
        # timeout on to its steps, and a direct caller could at best shorten the wait, so the
        # only effect of allowing it would be a second, unused way to set the same limit.
        batching=Batching(tuning.max_queue_delay_us, tuning.preferred_batch_sizes,
                          max_queue_size=settings.queue_size,
                          queue_timeout_us=settings.queue_timeout_us,
                          priority_levels=tuning.priority_levels,
                          default_priority_level=tuning.default_priority_level),
        # An instance holds one unit of the "cpu" resource per thread it runs; the server has
        # one unit per core, so stages run side by side only while cores last.
        rate_limit=(RateLimit({c.CPU_RESOURCE: settings.threads},
                              priority=settings.turn_priority)
                    if tuning.take_turns_on_cpu else None),
        parameters={**parameters, c.PARAM_THREADS: str(settings.threads),
                    c.PARAM_SUB_BATCH: str(tuning.stage_sub_batch)},
        files=files,
        source_dir=SOURCES / stage,
    )
