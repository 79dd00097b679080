"""Streaming synthesis: the vocoder on overlapping windows of latent frames (windows.py says
why a window with context gives the whole latent's samples). The first window is small so that
first audio comes fast; later windows grow geometrically so that the per-call overhead stays
low.

`PiperStreamer` is the whole of the decoupled `tts_stream` model but its tensors: it reads the
text, calls the acoustic stage per sentence chunk and the vocoder per window, adds word
timestamps, stops when the client cancels, and ends every stream exactly once (its final audio,
a cancellation, or an error). Plain Python (asyncio): the Triton adapter hands it awaited calls
to the stage models (BLS); tests hand it fake or ONNX Runtime stage calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from tritontts.piper.frontend import EncodedRequest, PhonemeBatch, VoiceFrontends
from tritontts.piper.stages import pause_samples
from tritontts.piper.windows import WindowPlan, plan_windows, window_samples
from tritontts.piper.words import chunk_offsets, word_times
from tritontts_client import contract as c

Vocode = Callable[[np.ndarray], Awaitable[np.ndarray]]  # latent [1, C, w] -> samples [w * hop]


@dataclass(frozen=True)
class Chunk:
    audio: np.ndarray
    final: bool
    sentence: int = 0  # which sentence chunk (latent) the audio is of
    opens_sentence: bool = False  # the first audio of that sentence chunk


async def stream_chunks(sentence_latents: AsyncIterator[np.ndarray], pauses: Sequence[int],
                        vocode: Vocode, hop_length: int,
                        plan: WindowPlan) -> AsyncIterator[Chunk]:
    """Audio of all sentence chunks (latent [C, T] each), window by window; the pause after a
    chunk (pauses[i] samples) joined to the next one; the last piece flagged final. Joined, they
    equal `join_with_pauses` of the one-shot audio."""
    sentence_count = len(pauses)
    index = 0
    async for latent in sentence_latents:
        windows = plan_windows(latent.shape[-1], plan)
        for number, window in enumerate(windows):
            frames = latent[None, :, window.context_start : window.context_end]
            audio = window_samples(await vocode(np.ascontiguousarray(frames)), window,
                                   hop_length)
            if index and number == 0:
                audio = np.concatenate([np.zeros(pauses[index - 1], np.float32), audio])
            final = index == sentence_count - 1 and number == len(windows) - 1
            yield Chunk(np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False), final,
                        sentence=index, opens_sentence=number == 0)
        index += 1


# --- the stream model ------------------------------------------------------------------------

# A call to another model of the repository: (model, inputs, output names) -> outputs.
StageCall = Callable[[str, Mapping[str, np.ndarray], Sequence[str]],
                     Awaitable[dict[str, np.ndarray]]]


class StreamCancelledError(Exception):
    """The client cancelled the stream or went away."""


@dataclass(frozen=True)
class StreamVoice:
    hop_length: int  # samples per latent frame
    sample_rate: int


@dataclass(frozen=True)
class StreamRequest:
    """One `tts_stream` request as its tensors said it."""

    text: str
    voice: str | None = None  # "<voice>" or "<voice>/<speaker>"; None: the default
    options: Mapping[str, float | None] | None = None  # speed, noise_scale, noise_w
    want_words: bool = False  # WORDS / WORD_TIMES asked for
    is_cancelled: Callable[[], bool] = lambda: False


@dataclass(frozen=True)
class StreamPiece:
    """One response of a stream: audio, and with the first audio of a sentence chunk its
    words and their [start, end) samples in the whole stream (when asked for and any)."""

    audio: np.ndarray  # float32 samples; empty for a bare final response
    sample_rate: int
    final: bool
    words: tuple[str, ...] = ()
    word_times: np.ndarray | None = None  # [words, 2] int64


class StreamSink(Protocol):
    """Where the pieces of one stream go (the adapter sends them as responses)."""

    def send(self, piece: StreamPiece) -> None: ...

    def cancelled(self) -> None: ...

    def failed(self, error: Exception) -> None: ...


class StreamObserver(Protocol):
    """The stream model's metrics."""

    def in_flight(self, streams: int) -> None: ...

    def first_audio(self, seconds: float) -> None: ...

    def cancelled(self) -> None: ...


class _NoMetrics:
    def in_flight(self, streams: int) -> None:
        pass

    def first_audio(self, seconds: float) -> None:
        pass

    def cancelled(self) -> None:
        pass


class PiperStreamer:
    """Streams of one repository's Piper voices, at most `max_concurrent` at once."""

    def __init__(self, frontends: VoiceFrontends, voices: Sequence[StreamVoice],
                 plan: WindowPlan, call: StageCall, max_concurrent: int,
                 observer: StreamObserver | None = None) -> None:
        if len(voices) != len(frontends.frontends):
            raise ValueError(f"{len(voices)} voice shapes for {len(frontends.frontends)} voices")
        self.frontends, self.voices, self.plan, self.call = frontends, list(voices), plan, call
        self.observer = observer or _NoMetrics()
        self.slots = asyncio.Semaphore(max_concurrent)
        self.streams = 0  # one event loop runs every stream: no lock needed

    async def serve(self, request: StreamRequest, sink: StreamSink,
                    arrived: float | None = None) -> None:
        """Run one stream to its end: every piece to `sink`, the last one final; or
        `sink.cancelled()` once the client has cancelled; or `sink.failed(error)` (a refusal
        is an InvalidInputError). Never raises for a request's fault."""
        arrived = time.perf_counter() if arrived is None else arrived
        self.streams += 1
        self.observer.in_flight(self.streams)
        try:
            async with self.slots, contextlib.aclosing(self.pieces(request)) as pieces:
                first = True
                async for piece in pieces:
                    sink.send(piece)
                    if first:
                        self.observer.first_audio(time.perf_counter() - arrived)
                        first = False
        except StreamCancelledError:
            self.observer.cancelled()
            sink.cancelled()
        except Exception as exc:  # reported on the stream, never lost
            sink.failed(exc)
        finally:
            self.streams -= 1
            self.observer.in_flight(self.streams)

    async def pieces(self, request: StreamRequest) -> AsyncIterator[StreamPiece]:
        """The stream's pieces, the last one final; raises StreamCancelledError as soon as
        the client has cancelled (before each stage call)."""
        encoded = self.frontends.encode(request.text, request.voice, **(request.options or {}))
        voice = self.voices[encoded.voice]
        stages = _SentenceStages(self, encoded, request.is_cancelled)
        batch = encoded.batch
        pauses = pause_samples(batch.pauses_s, voice.sample_rate)
        final = False
        async for chunk in stream_chunks(stages.latents(), pauses, stages.vocode,
                                         voice.hop_length, self.plan):
            words: tuple[str, ...] = ()
            times = None
            if request.want_words and chunk.opens_sentence:
                words, times = sentence_words(batch, chunk.sentence, stages.frames,
                                              stages.durations, pauses, voice.hop_length)
            final = chunk.final
            yield StreamPiece(chunk.audio, voice.sample_rate, final, words, times)
        if not final:
            yield StreamPiece(np.zeros(0, np.float32), voice.sample_rate, True)


class _SentenceStages:
    """The stage calls of one stream: the acoustic stage per sentence chunk, the vocoder per
    window, each chunk's frames and durations kept for its word timestamps."""

    def __init__(self, streamer: PiperStreamer, encoded: EncodedRequest,
                 is_cancelled: Callable[[], bool]) -> None:
        self.call, self.encoded, self.is_cancelled = streamer.call, encoded, is_cancelled
        self.multi_speaker = streamer.frontends.multi_speaker
        # Whose chunk it is, for both stages when the repository serves several voices; the
        # acoustic stage also takes the speaker and hands the vocoder its embedding.
        self.voice = ({c.VOICE_INDEX.name: np.array([[encoded.voice]], dtype=np.int64)}
                      if streamer.frontends.multi_voice else {})
        self.speaker = ({c.SPEAKER_ID.name: np.array([[encoded.speaker]], dtype=np.int64)}
                        if self.multi_speaker else {})
        self.vocoder_extra = dict(self.voice)
        self.frames: list[int] = []
        self.durations: list[np.ndarray] = []

    def check(self) -> None:
        if self.is_cancelled():
            raise StreamCancelledError

    async def latents(self) -> AsyncIterator[np.ndarray]:
        batch, scales = self.encoded.batch, self.encoded.scales
        outputs = [c.LATENT.name, c.FRAME_LENGTHS.name, c.PHONEME_DURATIONS.name]
        if self.multi_speaker:
            outputs.append(c.SPEAKER_EMBEDDING.name)
        for row, length in enumerate(batch.lengths):
            self.check()
            inputs = {
                c.PHONEME_IDS.name: batch.ids[row : row + 1, :length],
                c.PHONEME_LENGTHS.name: batch.lengths[row : row + 1].reshape(1, 1),
                c.SCALES.name: scales[row : row + 1],
                **self.voice,
                **self.speaker,
            }
            out = await self.call(c.ACOUSTIC_MODEL, inputs, outputs)
            if self.multi_speaker:
                self.vocoder_extra[c.SPEAKER_EMBEDDING.name] = out[c.SPEAKER_EMBEDDING.name]
            frames = int(out[c.FRAME_LENGTHS.name].reshape(-1)[0])
            self.frames.append(frames)
            self.durations.append(out[c.PHONEME_DURATIONS.name][0])
            yield out[c.LATENT.name][0, :, :frames]

    async def vocode(self, latent: np.ndarray) -> np.ndarray:
        self.check()
        # A window has no padding: every frame is decoded, whichever runtime serves it.
        out = await self.call(c.VOCODER_MODEL, {c.LATENT.name: latent, **self.vocoder_extra},
                              (c.WAVEFORM.name,))
        return out[c.WAVEFORM.name]


def sentence_words(batch: PhonemeBatch, sentence: int, frames: Sequence[int],
                   durations: Sequence[np.ndarray], pauses: Sequence[int],
                   hop_length: int) -> tuple[tuple[str, ...], np.ndarray | None]:
    """The words of one sentence chunk and their [start, end) in samples of the whole stream;
    none when the chunk has no words."""
    rows = batch.word_spans[:, 0] == sentence
    if not rows.any():
        return (), None
    offsets = chunk_offsets(frames[: sentence + 1], pauses[: sentence + 1], hop_length)
    times = word_times(batch.word_spans[rows], durations, offsets, hop_length)
    words = tuple(w for w, keep in zip(batch.words, rows, strict=True) if keep)
    return words, times
