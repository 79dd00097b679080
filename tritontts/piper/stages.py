"""The heavy stages around a stage-graph runner: padding, grouping and trimming.

Plain Python, so that the same code runs inside Triton's python backend (cpu profile), in the
benchmarks, and in unit tests. Each stage takes a batch of items that may come from several
requests, runs it in sub-batches of at most `max_batch` items, and returns per-item results
padded to the batch's longest item. The graph itself runs on ONNX Runtime or OpenVINO
(runtimes.py): the contract above is the same for both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tritontts.errors import MissingFileError
from tritontts.piper.runtimes import SPIN_US, Runner, make_runner, ort_session
from tritontts.piper.windows import WindowPlan, plan_windows
from tritontts_client import contract as c

__all__ = ["SPIN_US", "AcousticStage", "VocoderStage", "join_chunks", "join_with_pauses",
           "ort_session", "pause_samples", "run_per_voice"]


# The vocoder on a runner that prepares per shape (OpenVINO) runs latents padded to a few widths:
# a multiple of 1/8 of the power of two at or below the frame count, at least MIN_BUCKET_STEP,
# so at most 12.5% more frames and 8 widths per doubling. Measured on the AMX Xeon, OpenVINO's
# bf16 vocoder took ~1.4 ms per frame the first time it met a width (1.45 s for 1024 frames,
# 0.10 s once prepared), and sentences of never-seen lengths were 6× slower than seen ones
# (docs/benchmarks-cpu.md). The widths up to WARM_UP_FRAMES are prepared at load, and no other
# width is ever run.
MIN_BUCKET_STEP = 16
WARM_UP_FRAMES = 512  # ~6 s of speech at 22 050 Hz (86 frames/s): most single sentences
# Longer latents are decoded in windows that stay within the prepared widths, 16 frames of
# context on each side (windows.py: 12 already give the whole latent's samples at 128 dB SNR).
LONG_LATENT_WINDOWS = WindowPlan(first_frames=WARM_UP_FRAMES - 32, growth=1.0,
                                 max_frames=WARM_UP_FRAMES - 32, context_frames=16)


def frame_bucket(frames: int) -> int:
    """The padded width a per-shape-preparing vocoder runs `frames` latent frames at."""
    step = max(MIN_BUCKET_STEP, 1 << max(0, frames.bit_length() - 4))
    return -(-frames // step) * step


def bucket_widths(up_to: int) -> list[int]:
    """Every padded width frame_bucket gives for 1..up_to frames."""
    widths, frames = [], 1
    while frames <= up_to:
        widths.append(frame_bucket(frames))
        frames = widths[-1] + 1
    return widths


def _sub_batches(indices: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(indices), size):
        yield indices[start : start + size]


class AcousticOutputs(NamedTuple):
    latent: np.ndarray  # [N, C, T] float32, zero past each item's frames
    frame_lengths: np.ndarray  # [N] int64
    phoneme_durations: np.ndarray  # [N, L] int64 frames per phoneme id, zero on padding
    speaker_embedding: np.ndarray | None  # [N, E, 1], multi-speaker voices only


class AcousticStage:
    """Phoneme ids → latent frames (VITS text encoder, duration predictor and flow)."""

    def __init__(self, model_path: str | Path, threads: int = 1, max_batch: int = 1,
                 runtime: str = c.RUNTIME_ONNXRUNTIME, precision: str = c.PRECISION_F32) -> None:
        self.runner: Runner = make_runner(model_path, c.ACOUSTIC_MODEL, threads, runtime,
                                          precision)
        self.max_batch = max_batch
        if c.PHONEME_DURATIONS.name not in self.runner.output_names:
            raise MissingFileError(
                f"{model_path} has no {c.PHONEME_DURATIONS.name} output: it was exported by an "
                "older tritontts; export the voice again with `make export`")
        self.latent_channels = self.runner.output_dim(
            self.runner.output_names.index(c.LATENT.name), 1)
        # Multi-speaker voices take a speaker id and hand the vocoder the speaker's embedding.
        self.multi_speaker = c.SPEAKER_ID.name in self.runner.input_names

    def run(self, phoneme_ids: np.ndarray, lengths: np.ndarray, scales: np.ndarray,
            speaker_ids: np.ndarray | None = None) -> AcousticOutputs:
        """ids [N, L] int64, lengths [N], scales [N, 3], speaker_ids [N] (multi-speaker voices)
        → latent [N, C, T], frame_lengths [N], phoneme_durations [N, L], speaker_embedding
        [N, E, 1] or None."""
        count = phoneme_ids.shape[0]
        latents: list[np.ndarray | None] = [None] * count
        frames = np.zeros(count, dtype=np.int64)
        durations = np.zeros(phoneme_ids.shape, dtype=np.int64)
        if self.multi_speaker and speaker_ids is None:
            speaker_ids = np.zeros(count, dtype=np.int64)
        embeddings: np.ndarray | None = None
        # Similar lengths together keep padding small.
        order = sorted(range(count), key=lambda i: int(lengths[i]))
        for batch in _sub_batches(order, self.max_batch):
            width = int(lengths[batch].max())
            feeds = {
                c.PHONEME_IDS.name: np.ascontiguousarray(phoneme_ids[batch, :width]),
                c.PHONEME_LENGTHS.name: lengths[batch].astype(np.int64),
                c.SCALES.name: np.ascontiguousarray(scales[batch], dtype=np.float32),
            }
            if self.multi_speaker:
                speakers = np.asarray(speaker_ids, dtype=np.int64).reshape(-1)
                feeds[c.SPEAKER_ID.name] = speakers[batch]
            named = dict(zip(self.runner.output_names, self.runner.run(feeds), strict=True))
            latent, frame_lengths = named[c.LATENT.name], named[c.FRAME_LENGTHS.name]
            item_durations = named[c.PHONEME_DURATIONS.name]
            embedding = ([named[c.SPEAKER_EMBEDDING.name]] if self.multi_speaker else [])
            if embedding:
                if embeddings is None:
                    embeddings = np.zeros((count, *embedding[0].shape[1:]), dtype=np.float32)
                embeddings[batch] = embedding[0]
            for row, item in enumerate(batch):
                frames[item] = frame_lengths[row]
                latents[item] = latent[row, :, : frame_lengths[row]]
                length = int(lengths[item])
                durations[item, :length] = item_durations[row, :length]
        longest = int(frames.max()) if count else 0
        out = np.zeros((count, self.latent_channels, longest), dtype=np.float32)
        for i, latent in enumerate(latents):
            assert latent is not None
            out[i, :, : latent.shape[1]] = latent
        return AcousticOutputs(out, frames, durations, embeddings)


class VocoderStage:
    """Latent frames → waveform (the HiFi-GAN generator of VITS)."""

    def __init__(self, model_path: str | Path, hop_length: int, threads: int = 1,
                 max_batch: int = 1, latent_channels: int | None = None,
                 speaker_embedding_channels: int | None = None,
                 runtime: str = c.RUNTIME_ONNXRUNTIME, precision: str = c.PRECISION_F32) -> None:
        """The channel counts (from the voice's export manifest) let it take inputs padded for
        a batch of several voices; None: inputs come at this voice's sizes."""
        self.runner: Runner = make_runner(model_path, c.VOCODER_MODEL, threads, runtime,
                                          precision)
        self.hop_length = hop_length
        self.max_batch = max_batch
        self.latent_channels = latent_channels
        self.speaker_embedding_channels = speaker_embedding_channels
        # Multi-speaker voices take the speaker's embedding beside the latent.
        self.multi_speaker = c.SPEAKER_EMBEDDING.name in self.runner.input_names
        self.bucketed = self.runner.prepares_per_shape

    def warm_up(self, up_to_frames: int = WARM_UP_FRAMES) -> int:
        """Prepare a bucketed runner for every width up to `up_to_frames` (one item of zeros
        each); returns how many widths (0: the runner needs none)."""
        if not self.bucketed:
            return 0
        if self.latent_channels is None or (self.multi_speaker
                                            and self.speaker_embedding_channels is None):
            raise ValueError("warm_up needs the voice's latent and embedding channel counts")
        widths = bucket_widths(up_to_frames)
        for width in widths:
            feeds = {c.LATENT.name: np.zeros((1, self.latent_channels, width), np.float32)}
            if self.multi_speaker:
                feeds[c.SPEAKER_EMBEDDING.name] = np.zeros(
                    (1, self.speaker_embedding_channels, 1), np.float32)
            self.runner.run(feeds)
        return len(widths)

    def run(self, latent: np.ndarray, frame_lengths: np.ndarray,
            speaker_embedding: np.ndarray | None = None) -> np.ndarray:
        """latent [N, ≥C, T], frame_lengths [N], speaker_embedding [N, ≥E, 1] (multi-speaker
        voices; ignored by others) → waveform [N, T * hop], zero past each item."""
        count, _, longest = latent.shape
        out = np.zeros((count, longest * self.hop_length), dtype=np.float32)
        order = sorted(range(count), key=lambda i: int(frame_lengths[i]))
        for batch in _sub_batches(order, self.max_batch):
            width = int(frame_lengths[batch].max())
            if width == 0:
                continue
            if self.multi_speaker and speaker_embedding is None:
                raise ValueError("this multi-speaker vocoder needs the speaker_embedding")
            # Inputs padded for a batch of several voices are cut back to this voice's sizes.
            frames = latent[batch, : self.latent_channels, :width]
            embedding = (np.ascontiguousarray(
                speaker_embedding[batch, : self.speaker_embedding_channels])
                if self.multi_speaker else None)
            waveform = self._decode(frames, embedding)
            for row, item in enumerate(batch):
                samples = int(frame_lengths[item]) * self.hop_length
                out[item, :samples] = waveform[row, :samples]
        return out

    def _decode(self, frames: np.ndarray, embedding: np.ndarray | None) -> np.ndarray:
        """[n, C, width] → [n, width * hop]. A bucketed runner gets the frames padded to their
        bucket, and latents longer than the prepared widths in windows (windows.py) of them."""
        width = frames.shape[-1]
        if not self.bucketed or width <= WARM_UP_FRAMES:
            return self._run_padded(frames, embedding)
        out = np.empty((frames.shape[0], width * self.hop_length), dtype=np.float32)
        hop = self.hop_length
        for window in plan_windows(width, LONG_LATENT_WINDOWS):
            waveform = self._run_padded(
                frames[:, :, window.context_start:window.context_end], embedding)
            offset = (window.start - window.context_start) * hop
            out[:, window.start * hop:window.end * hop] = (
                waveform[:, offset:offset + (window.end - window.start) * hop])
        return out

    def _run_padded(self, frames: np.ndarray, embedding: np.ndarray | None) -> np.ndarray:
        """Zeros past the frames up to the bucket's width, as past each item in a batch."""
        width = frames.shape[-1]
        padding = (frame_bucket(width) if self.bucketed else width) - width
        feeds = {c.LATENT.name: np.ascontiguousarray(
            np.pad(frames, ((0, 0), (0, 0), (0, padding))) if padding else frames)}
        if embedding is not None:
            feeds[c.SPEAKER_EMBEDDING.name] = embedding
        return self.runner.run(feeds)[0][:, :width * self.hop_length]


VoiceOutputs = Sequence[np.ndarray | None]


def run_per_voice(voice_ids: np.ndarray,
                  run: Callable[[int, np.ndarray], VoiceOutputs]) -> list[np.ndarray | None]:
    """Run a batch whose items belong to several voices: `run(voice, rows)` once per voice on
    its rows, the outputs put back in item order, zero-padded on their other axes to the
    widest voice's (another voice's latent may have fewer channels). An output no voice made
    stays None."""
    voice_ids = np.asarray(voice_ids).reshape(-1)
    voices = np.unique(voice_ids)
    if len(voices) == 1:  # the common case needs no copies
        return list(run(int(voices[0]), np.arange(len(voice_ids))))
    parts = []
    for voice in voices:
        rows = np.flatnonzero(voice_ids == voice)
        parts.append((rows, run(int(voice), rows)))
    merged: list[np.ndarray | None] = []
    for k in range(len(parts[0][1])):
        made = [(rows, out[k]) for rows, out in parts if out[k] is not None]
        if not made:
            merged.append(None)
            continue
        shape = (len(voice_ids), *np.max([a.shape[1:] for _, a in made], axis=0))
        full = np.zeros(shape, dtype=made[0][1].dtype)
        for rows, array in made:
            full[(rows, *(slice(0, n) for n in array.shape[1:]))] = array
        merged.append(full)
    return merged


def pause_samples(pauses_s: np.ndarray, sample_rate: int) -> list[int]:
    return [round(float(p) * sample_rate) for p in np.asarray(pauses_s).reshape(-1)]


def join_with_pauses(pieces: list[np.ndarray], pauses: Sequence[int]) -> np.ndarray:
    """Join chunk audio with pauses[i] samples of silence after piece i (none after the last);
    clip to [-1, 1]."""
    parts: list[np.ndarray] = []
    for i, piece in enumerate(pieces):
        if i:
            parts.append(np.zeros(pauses[i - 1], dtype=np.float32))
        parts.append(piece)
    audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False)


def join_chunks(waveform: np.ndarray, frame_lengths: np.ndarray, hop_length: int,
                pauses: Sequence[int]) -> np.ndarray:
    """Trim each padded chunk [N, samples] to its true length, then join with the pauses."""
    pieces = [waveform[i, : int(frames) * hop_length]
              for i, frames in enumerate(frame_lengths.reshape(-1))]
    return join_with_pauses(pieces, pauses)
