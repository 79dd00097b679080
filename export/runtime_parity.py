"""A stage runtime and precision against the f32 ONNX Runtime stages, on sample sentences.

The same bounds as the FP16 variant (optimize.AudioTolerance): every frame count equal, the
waveform SNR at least 30 dB. Both sides run through the serving stage classes, so the padding
and trimming around each runner are part of what is compared.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from tritontts.export.optimize import (
    FP16_TOLERANCE,
    SAMPLE_SENTENCES,
    AudioTolerance,
    ParityReport,
    chunk_parity,
)
from tritontts.piper.frontend import TextFrontend
from tritontts.piper.stages import AcousticStage, VocoderStage
from tritontts.piper.voice import ExportedVoice, PiperVoiceConfig
from tritontts_client import contract as c

StageChoice = tuple[str, str]  # (runtime, precision)
REFERENCE: StageChoice = (c.RUNTIME_ONNXRUNTIME, c.PRECISION_F32)


def stage_pair(voice: ExportedVoice, acoustic: StageChoice, vocoder: StageChoice,
               threads: int = 1) -> tuple[AcousticStage, VocoderStage]:
    return (AcousticStage(voice.acoustic, threads, runtime=acoustic[0], precision=acoustic[1]),
            VocoderStage(voice.vocoder, voice.hop_length, threads, runtime=vocoder[0],
                         precision=vocoder[1]))


def runtime_parity(voice: ExportedVoice, acoustic: StageChoice, vocoder: StageChoice,
                   sentences: Iterable[str] = SAMPLE_SENTENCES,
                   tolerance: AudioTolerance = FP16_TOLERANCE, speed: float = 1.0,
                   threads: int = 1) -> ParityReport:
    """Each chunk of each sentence (noise scales 0, so both sides are deterministic) through
    the reference stages and through stages on `acoustic` / `vocoder` (runtime, precision)."""
    config = PiperVoiceConfig.load(voice.config)
    reference = stage_pair(voice, REFERENCE, REFERENCE, threads)
    candidate = stage_pair(voice, acoustic, vocoder, threads)
    frontend = TextFrontend(config)
    scales = np.array([[0.0, config.length_scale / speed, 0.0]], dtype=np.float32)
    chunks = []
    for text in sentences:
        batch = frontend.encode(text)
        for row, length in enumerate(batch.lengths.tolist()):
            ids, lengths = batch.ids[row : row + 1, :length], batch.lengths[row : row + 1]
            ref_out = reference[0].run(ids, lengths, scales)
            cand_out = candidate[0].run(ids, lengths, scales)
            latent, frames = ref_out.latent, ref_out.frame_lengths
            cand_latent, cand_frames = cand_out.latent, cand_out.frame_lengths
            audio = reference[1].run(latent, frames)[0]
            vocoder_only = candidate[1].run(latent, frames)[0]
            cand_audio = (candidate[1].run(cand_latent, cand_frames)[0]
                          if int(cand_frames[0]) == int(frames[0]) else None)
            chunks.append(chunk_parity(
                text, length, int(frames[0]), int(cand_frames[0]), audio, vocoder_only,
                cand_audio, bool(np.array_equal(ref_out.phoneme_durations,
                                                cand_out.phoneme_durations))))
    return ParityReport(tuple(chunks), tolerance)
