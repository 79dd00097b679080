"""A stage runtime and precision against the f32 ONNX Runtime stages, judged as speech: STOI
(pystoi) and mel-cepstral distance (mel-cepstral-distance) of each sentence's audio.

Waveform SNR (runtime_parity.py) punishes a vocoder for phase and for tiny shifts that no
listener hears; intelligibility and spectral envelope are what a lower precision may cost.
Both libraries are in the `bench` extra; they are imported when a comparison runs.

Bounds (PERCEPTUAL_BOUNDS), against anchors measured on the bundled voice's f32 audio of the
12 sample sentences: the same audio as 16-bit PCM (a WAV file's usual form) is 0.10–0.35 dB
MCD away, as 8-bit PCM (clearly audible noise) 5.0–7.7 dB. A candidate passes with every frame
count equal (durations are the speech's timing), STOI ≥ 0.99 on every sentence long enough to
score (1 = the same intelligibility envelope) and MCD ≤ 1.5 dB on every sentence: a few times
the 16-bit rounding, a fifth of the 8-bit one.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tritontts.export.optimize import SAMPLE_SENTENCES
from tritontts.export.runtime_parity import REFERENCE, StageChoice, stage_pair
from tritontts.piper.frontend import TextFrontend
from tritontts.piper.stages import join_chunks, pause_samples
from tritontts.piper.voice import ExportedVoice, PiperVoiceConfig


@dataclass(frozen=True)
class PerceptualBounds:
    min_stoi: float = 0.99
    max_mcd_db: float = 1.5


PERCEPTUAL_BOUNDS = PerceptualBounds()
MCD_FFT_SAMPLES = 1024
MCD_HOP_SAMPLES = 256
# STOI works on 384 ms segments of speech (at its 10 kHz): shorter audio has no score.
STOI_MIN_S = 1.0


@dataclass(frozen=True)
class SentenceScore:
    text: str
    frames_match: bool
    stoi: float | None  # None: too short for STOI (STOI_MIN_S)
    mcd_db: float


@dataclass(frozen=True)
class PerceptualReport:
    sentences: tuple[SentenceScore, ...]
    bounds: PerceptualBounds

    @property
    def min_stoi(self) -> float:
        return min((s.stoi for s in self.sentences if s.stoi is not None), default=math.nan)

    @property
    def max_mcd_db(self) -> float:
        return max(s.mcd_db for s in self.sentences)

    @property
    def mean_mcd_db(self) -> float:
        return statistics.fmean(s.mcd_db for s in self.sentences)

    @property
    def passed(self) -> bool:
        return (bool(self.sentences) and all(s.frames_match for s in self.sentences)
                and self.min_stoi >= self.bounds.min_stoi
                and self.max_mcd_db <= self.bounds.max_mcd_db)

    def table(self) -> str:
        lines = [f"{'frames':>6} {'STOI':>6} {'MCD dB':>7}  text"]
        lines += [f"{'equal' if s.frames_match else 'DIFFER':>6} "
                  f"{'-' if s.stoi is None else f'{s.stoi:.4f}':>6} "
                  f"{s.mcd_db:>7.3f}  {s.text[:60]}" for s in self.sentences]
        lines.append(f"min STOI {self.min_stoi:.4f} (bound ≥ {self.bounds.min_stoi}), "
                     f"max MCD {self.max_mcd_db:.3f} dB (bound ≤ {self.bounds.max_mcd_db}): "
                     + ("passed" if self.passed else "FAILED"))
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {"passed": self.passed, "min_stoi": self.min_stoi,
                "max_mcd_db": self.max_mcd_db, "mean_mcd_db": self.mean_mcd_db,
                "bounds": {"min_stoi": self.bounds.min_stoi,
                           "max_mcd_db": self.bounds.max_mcd_db},
                "sentences": [s.__dict__ for s in self.sentences]}


def mel_cepstral_distance(reference: np.ndarray, candidate: np.ndarray, sample_rate: int,
                          folder: Path) -> float:
    """MCD in dB of two equally long signals (the library reads files: written as WAV)."""
    import mel_cepstral_distance as mcd
    import soundfile as sf

    paths = folder / "reference.wav", folder / "candidate.wav"
    for path, audio in zip(paths, (reference, candidate), strict=True):
        sf.write(path, audio, sample_rate, subtype="FLOAT")
    # Frames of the vocoder's own FFT size and hop; equal lengths: pad alignment compares frame
    # i with frame i (no warping to hide errors). The library warns about WAV chunks it skips.
    frame_ms = 1000.0 * MCD_FFT_SAMPLES / sample_rate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        distance, _ = mcd.compare_audio_files(
            *paths, n_fft=frame_ms, win_len=frame_ms,
            hop_len=1000.0 * MCD_HOP_SAMPLES / sample_rate, aligning="pad")
    return float(distance)


def perceptual_parity(voice: ExportedVoice, acoustic: StageChoice, vocoder: StageChoice,
                      sentences: Iterable[str] = SAMPLE_SENTENCES,
                      bounds: PerceptualBounds = PERCEPTUAL_BOUNDS,
                      threads: int = 1) -> PerceptualReport:
    """Each sentence (noise scales 0: deterministic) through the reference stages and the
    candidate's, whole sentences joined as the server joins them, scored as speech."""
    from pystoi import stoi

    config = PiperVoiceConfig.load(voice.config)
    reference = stage_pair(voice, REFERENCE, REFERENCE, threads)
    candidate = stage_pair(voice, acoustic, vocoder, threads)
    frontend = TextFrontend(config)
    scores = []
    with tempfile.TemporaryDirectory(prefix="tritontts-perceptual-") as folder:
        for text in sentences:
            batch = frontend.encode(text)
            scales = np.tile(np.array([[0.0, config.length_scale, 0.0]], dtype=np.float32),
                             (len(batch.lengths), 1))
            pauses = pause_samples(batch.pauses_s, config.sample_rate)
            audio = []
            for acoustic_stage, vocoder_stage in (reference, candidate):
                out = acoustic_stage.run(batch.ids, batch.lengths, scales)
                waveform = vocoder_stage.run(out.latent, out.frame_lengths)
                audio.append((join_chunks(waveform, out.frame_lengths, voice.hop_length,
                                          pauses), out.frame_lengths))
            (ref, ref_frames), (cand, cand_frames) = audio
            match = bool(np.array_equal(ref_frames, cand_frames))
            if not match:  # other durations: not the same utterance, nothing to score
                scores.append(SentenceScore(text, False, None, math.nan))
                continue
            scores.append(SentenceScore(
                text, True,
                float(stoi(ref, cand, config.sample_rate, extended=False))
                if len(ref) >= STOI_MIN_S * config.sample_rate else None,
                mel_cepstral_distance(ref, cand, config.sample_rate, Path(folder))))
    return PerceptualReport(tuple(scores), bounds)
