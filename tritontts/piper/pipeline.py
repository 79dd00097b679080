"""The Piper pipeline's wiring, the same in every profile: frontend → acoustic → vocoder →
postprocess as the `tts` ensemble (and `tts_cached` behind the response cache), and the
decoupled `tts_stream`, around whichever acoustic and vocoder models the profile serves."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tritontts.piper.frontend import FrontendLimits
from tritontts.piper.tuning import Tuning
from tritontts.piper.voice import ExportedVoice
from tritontts.repository.render import SOURCES as ADAPTERS
from tritontts.repository.schema import Ensemble, Model, PythonModel, RenderError, Step, Tensor
from tritontts_client import contract as c

# The python models' adapters: model_repository/piper/<model>/1/model.py.
SOURCES = ADAPTERS / "piper"

ENTRY_INPUTS = tuple(Tensor.of(spec, (1,), optional=spec.optional) for spec in c.ENTRY_INPUTS)
# Every word's text and [start, end) sample: sent to clients that ask for them.
TIMESTAMP_OUTPUTS = (Tensor.of(c.WORDS, (-1,)), Tensor.of(c.WORD_TIMES, (-1, 2)))
ENTRY_OUTPUTS = (Tensor.of(c.AUDIO, (-1,)), Tensor.of(c.SAMPLE_RATE, (1,)), *TIMESTAMP_OUTPUTS)


@dataclass(frozen=True)
class Deployment:
    """What a deployment decides beyond the tuning: request limits and its dictionary."""

    limits: FrontendLimits
    lexicon: Path | None = None


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
            c.VOICE_NAME: voice.name, c.VOICE_SAMPLE_RATE: voice.sample_rate,
            c.VOICE_HOP_LENGTH: voice.hop_length,
            c.VOICE_LATENT_CHANNELS: voice.latent_channels,
            c.VOICE_SPEAKER_EMBEDDING_CHANNELS: voice.speaker_embedding_channels}
        if key is not None and source is not None:
            path = source(voice)
            entry[key] = files_key = f"{voice.name}/{path.name}"
            files[files_key] = path
        entries.append(entry)
    return {c.PARAM_VOICES: json.dumps(entries)}, files


def _text_parameters(voices: Sequence[ExportedVoice], tuning: Tuning,
                     deployment: Deployment) -> tuple[dict[str, str], dict[str, Path]]:
    """Parameters and files of a model that reads text (`frontend`, `tts_stream`)."""
    limits = deployment.limits
    parameters, files = voices_parameter(voices, c.VOICE_CONFIG_FILE, lambda v: v.config)
    parameters.update({c.PARAM_MAX_TEXT_CHARS: str(limits.max_text_chars),
                       c.PARAM_MAX_PHONEME_IDS: str(limits.max_phoneme_ids),
                       c.PARAM_MAX_CHUNKS: str(limits.max_chunks),
                       c.PARAM_SENTENCE_PAUSE_S: str(tuning.sentence_pause_s)})
    if tuning.length_buckets:
        parameters[c.PARAM_LENGTH_BUCKETS] = ",".join(str(n) for n in tuning.length_buckets)
    if deployment.lexicon is not None:
        parameters[c.PARAM_LEXICON] = c.LEXICON_FILE
        files[c.LEXICON_FILE] = deployment.lexicon
    return parameters, files


def same_names(tensors: Sequence[Tensor]) -> dict[str, str]:
    """A step's map of tensors that keep their names in the ensemble."""
    return {t.name: t.name for t in tensors}


def speaker_channels(voices: Sequence[ExportedVoice]) -> int:
    """Channels of the speaker embedding the stages pass on (the largest of the voices'), or 0
    when no voice has several speakers."""
    if all(v.num_speakers <= 1 for v in voices):
        return 0
    return max(v.speaker_embedding_channels for v in voices)


def voice_tensors(voices: Sequence[ExportedVoice]) -> tuple[Tensor, ...]:
    """The per-chunk voice choice the stages take when a repository serves several voices."""
    return (Tensor.of(c.VOICE_INDEX, (1,)),) if len(voices) > 1 else ()


def pipeline_models(voices: Voices, acoustic: Model, vocoder: Model, tuning: Tuning,
                    deployment: Deployment) -> list[Model]:
    """frontend → acoustic → vocoder → postprocess as the `tts` ensemble, and `tts_stream`,
    around whichever acoustic and vocoder models the profile serves. With several voices, the
    frontend tells every later step each chunk's voice (`voice_index`)."""
    voices = voice_list(voices)
    text_parameters, text_files = _text_parameters(voices, tuning, deployment)
    multi_speaker = bool(speaker_channels(voices))
    multi_voice = bool(voice_tensors(voices))
    per_chunk = (-1, 1)
    frontend = PythonModel(
        name=c.FRONTEND_MODEL,
        inputs=ENTRY_INPUTS,
        outputs=(
            Tensor.of(c.PHONEME_IDS_OUT, (-1, -1)),
            Tensor.of(c.PHONEME_LENGTHS_OUT, per_chunk),
            Tensor.of(c.SCALES_OUT, (-1, 3)),
            Tensor.of(c.PAUSES_OUT, per_chunk),
            *((Tensor.of(c.SPEAKER_IDS_OUT, per_chunk),) if multi_speaker else ()),
            *((Tensor.of(c.VOICE_INDEX_OUT, per_chunk),) if multi_voice else ()),
            Tensor.of(c.WORDS, (-1,)),
            Tensor.of(c.WORD_SPANS_OUT, (-1, 3)),
        ),
        max_batch_size=0,
        instances=tuning.frontend_instances,
        parameters=text_parameters,
        files=text_files,
        source_dir=SOURCES / c.FRONTEND_MODEL,
    )
    postprocess = PythonModel(
        name=c.POSTPROCESS_MODEL,
        inputs=(
            Tensor.of(c.WAVEFORM_IN, (-1, -1)),
            Tensor.of(c.FRAME_LENGTHS_IN, per_chunk),
            Tensor.of(c.PAUSES_OUT, per_chunk),
            *((Tensor.of(c.VOICE_INDEX_OUT, per_chunk),) if multi_voice else ()),
            Tensor.of(c.PHONEME_DURATIONS_IN, (-1, -1)),
            Tensor.of(c.WORD_SPANS_OUT, (-1, 3)),
        ),
        outputs=(Tensor.of(c.AUDIO, (-1,)), Tensor.of(c.SAMPLE_RATE, (1,)),
                 Tensor.of(c.WORD_TIMES, (-1, 2))),
        max_batch_size=0,
        instances=tuning.postprocess_instances,
        parameters=voices_parameter(voices)[0],
        source_dir=SOURCES / c.POSTPROCESS_MODEL,
    )
    tts = Ensemble(
        name=c.TTS_MODEL,
        inputs=ENTRY_INPUTS,
        outputs=ENTRY_OUTPUTS,
        steps=(
            Step(c.FRONTEND_MODEL, same_names(ENTRY_INPUTS),
                 {t.name: c.FRONTEND_TO_STAGE[t.name] for t in frontend.outputs}),
            Step(c.ACOUSTIC_MODEL, same_names(acoustic.inputs), same_names(acoustic.outputs)),
            Step(c.VOCODER_MODEL, same_names(vocoder.inputs),
                 {c.WAVEFORM.name: c.WAVEFORM.name}),
            Step(c.POSTPROCESS_MODEL,
                 {c.WAVEFORM_IN.name: c.WAVEFORM.name,
                  c.FRAME_LENGTHS_IN.name: c.FRAME_LENGTHS.name,
                  c.PAUSES_OUT.name: c.PAUSES.name,
                  **({c.VOICE_INDEX_OUT.name: c.VOICE_INDEX.name} if multi_voice else {}),
                  c.PHONEME_DURATIONS_IN.name: c.PHONEME_DURATIONS.name,
                  c.WORD_SPANS_OUT.name: c.WORD_SPANS.name},
                 {name: name for name in (c.AUDIO.name, c.SAMPLE_RATE.name, c.WORD_TIMES.name)}),
        ),
    )
    # The same pipeline behind Triton's response cache, for callers who opt in: with the
    # voice's default noise scales every synthesis is a fresh random draw, and a cache would
    # silently turn that into the same audio for the same text. Opting in per request (by
    # calling this model) keeps `tts` as it was and makes repeated prompts ~1 ms.
    tts_cached = Ensemble(name=c.CACHED_TTS_MODEL, inputs=ENTRY_INPUTS, outputs=ENTRY_OUTPUTS,
                          steps=tts.steps, response_cache=True)
    windows = tuning.stream_windows
    tts_stream = PythonModel(
        name=c.STREAM_MODEL,
        inputs=ENTRY_INPUTS,
        outputs=ENTRY_OUTPUTS,
        max_batch_size=0,
        instances=1,
        decoupled=True,
        parameters={**text_parameters,
                    c.PARAM_FIRST_WINDOW_FRAMES: str(windows.first_frames),
                    c.PARAM_MAX_WINDOW_FRAMES: str(windows.max_frames),
                    c.PARAM_WINDOW_GROWTH: str(windows.growth),
                    c.PARAM_WINDOW_CONTEXT_FRAMES: str(windows.context_frames),
                    c.PARAM_MAX_CONCURRENT_STREAMS: str(tuning.max_concurrent_streams)},
        files=text_files,
        source_dir=SOURCES / c.STREAM_MODEL,
    )
    return [frontend, acoustic, vocoder, postprocess, tts, tts_cached, tts_stream]
