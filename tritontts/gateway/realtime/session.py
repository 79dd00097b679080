"""One realtime socket's speech: text pieces become segments (`tritontts.text.stream`), each
segment one Triton stream, synthesized a few ahead while earlier ones are still going out; the
audio leaves in text order through one encoder per turn, with the pauses the frontend puts
between the same sentences of one request, so that a turn's audio is the speech route's for
the turn's text, sample for sample. `clear` and a disconnect cancel every Triton stream of the
socket.

Three kinds of task: the caller's (messages in: `feed`, `flush`, `clear`), one speaker (turns
out, in order: waits for each segment's chunks, encodes, queues frames) and one writer (the
only one that sends, so a clear can drop what is queued and stop within the frame in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tritontts.gateway.metrics import GatewayMetrics
from tritontts.gateway.realtime.protocol import SocketConfig, error_message
from tritontts.gateway.speech import word_json
from tritontts.text.stream import Segment, TextStream
from tritontts_client import AsyncTTSClient, AudioChunk, InvalidRequestError, TTSError
from tritontts_client import contract as c
from tritontts_client.audio import AudioEncoder

log = logging.getLogger(__name__)

Frame = bytes | dict[str, Any]
Send = Callable[[Frame], Awaitable[None]]
# Frames queued for the writer: a few, so a client that reads slowly holds the speaker back.
OUTBOX_FRAMES = 8


def pause_samples(seconds: float, sample_rate: int) -> int:
    """Samples of a pause, rounded as the stream model rounds its float32 pauses."""
    return round(float(np.float32(seconds)) * sample_rate)


@dataclass
class Job:
    """A segment on its way: its Triton stream's chunks, then None (done) or the error."""

    segment: Segment
    turn: int
    text_done_at: float  # when its text was complete (sentence end, tail or flush)
    first_of_turn: bool
    chunks: asyncio.Queue[AudioChunk | TTSError | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class TurnEnd:
    turn: int


class Outbox:
    """Frames in order to the socket; `drop` forgets what has not gone yet."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._frames: asyncio.Queue[Frame] = asyncio.Queue(OUTBOX_FRAMES)
        self.failed = False
        self.last_audio_at = 0.0  # when the last binary frame went out

    async def put(self, frame: Frame) -> None:
        await self._frames.put(frame)

    def drop(self) -> int:
        dropped = 0
        while not self._frames.empty():
            self._frames.get_nowait()
            self._frames.task_done()
            dropped += 1
        return dropped

    async def drained(self) -> None:
        await self._frames.join()

    async def run(self) -> None:
        while True:
            frame = await self._frames.get()
            try:
                if not self.failed:
                    await self._send(frame)
                    if isinstance(frame, bytes):
                        self.last_audio_at = time.perf_counter()
            except Exception as exc:  # the client has gone; the caller's loop notices
                log.info("realtime: send failed: %s", exc)
                self.failed = True
            finally:
                self._frames.task_done()


@dataclass
class _TurnAudio:
    """The audio of the turn being spoken: its encoder and how many samples have left."""

    encoder: AudioEncoder | None = None
    voice_rate: int = 0
    samples: int = 0  # at the voice's rate, pauses included


class SpeechSession:
    def __init__(self, client: AsyncTTSClient, config: SocketConfig, sentence_pause_s: float,
                 metrics: GatewayMetrics, send: Send, ahead: int = 1,
                 max_segment_chars: int = 250) -> None:
        self.client = client
        self.config = config
        self.sentence_pause_s = sentence_pause_s
        self.metrics = metrics
        self.ahead = max(1, ahead)
        self.text = TextStream(max_segment_chars)
        self.outbox = Outbox(send)
        self.turn = 1  # the open turn: the one the next text belongs to
        self._spoken_through = 0  # the last turn whose audio has all gone (or was cleared)
        self._plan: asyncio.Queue[Job | TurnEnd] = asyncio.Queue()
        self._waiting: deque[Job] = deque()  # not started yet, in text order
        self._jobs: list[Job] = []  # every job not yet spoken
        self._synthesizing = 0
        self._turn_has_segments = False
        self._audio = _TurnAudio()
        self._segment_start = 0  # where the segment being spoken begins in the turn's audio
        self._speaking = False
        self._writer = asyncio.create_task(self.outbox.run())
        self._speaker = asyncio.create_task(self._speak())

    # --- what the caller's messages do -----------------------------------------------------

    @property
    def pending_chars(self) -> int:
        """Text taken but not yet spoken."""
        return len(self.text.pending) + sum(len(job.segment.text) for job in self._jobs)

    @property
    def busy(self) -> bool:
        """Whether anything is buffered, being synthesized or still to be sent."""
        return (self.text.in_turn or bool(self._jobs) or not self._plan.empty()
                or self._speaking)

    @property
    def idle_for_config(self) -> bool:
        return not self.busy

    def feed(self, piece: str) -> None:
        self._queue(self.text.feed(piece))

    def tail(self) -> None:
        self._queue(self.text.tail())

    def flush(self) -> None:
        self._queue(self.text.flush())
        self._plan.put_nowait(TurnEnd(self.turn))
        self.turn += 1
        self._turn_has_segments = False

    async def clear(self) -> None:
        """Barge-in: drop the text, cancel every stream, stop the audio, say which turns were
        cut (flushed ones still being spoken, and the open one if it had begun)."""
        open_turn = self.text.in_turn or self._turn_has_segments
        cut = list(range(self._spoken_through + 1, self.turn + (1 if open_turn else 0)))
        self.text.clear()
        await self._stop("clear")
        self.outbox.drop()
        await self.outbox.put({"type": c.RT_CLEARED, "turns": cut})
        self.metrics.turns.labels("cleared").inc(len(cut))
        if open_turn:
            self.turn += 1
        self._spoken_through = self.turn - 1
        self._turn_has_segments = False
        self._speaker = asyncio.create_task(self._speak())

    async def finish(self) -> None:
        """Speak what is left (a flush if a turn is open), then let every frame go out."""
        if self.text.in_turn or self._turn_has_segments:
            self.flush()
        await self._plan.join()
        await self.outbox.drained()

    async def close(self) -> None:
        """The socket is gone: cancel everything."""
        await self._stop("disconnect")
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    # --- segments to Triton, a few ahead --------------------------------------------------

    def _queue(self, segments: list[Segment]) -> None:
        now = time.perf_counter()
        for segment in segments:
            job = Job(segment, self.turn, now, first_of_turn=not self._turn_has_segments)
            self._turn_has_segments = True
            self._jobs.append(job)
            self._waiting.append(job)
            self._plan.put_nowait(job)
        self._start_waiting()

    def _start_waiting(self) -> None:
        while self._waiting and self._synthesizing < self.ahead:
            job = self._waiting.popleft()
            self._synthesizing += 1
            job.task = asyncio.create_task(self._synthesize(job))

    async def _synthesize(self, job: Job) -> None:
        config = self.config
        try:
            chunks = self.client.stream(job.segment.text, speed=config.speed, voice=config.voice,
                                        noise_scale=config.noise_scale,
                                        noise_w=config.noise_w, timestamps=config.timestamps)
            async with contextlib.aclosing(chunks):
                async for chunk in chunks:
                    job.chunks.put_nowait(chunk)
            job.chunks.put_nowait(None)
        except TTSError as exc:
            job.chunks.put_nowait(exc)
        finally:
            self._synthesizing -= 1
            self._start_waiting()

    async def _stop(self, cause: str) -> None:
        """Cancel the speaker and every stream; forget the plan."""
        jobs = list(self._jobs)  # the speaker lets go of the one it speaks when cancelled
        self._speaker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._speaker
        for job in jobs:
            if job.task is not None and not job.task.done():
                job.task.cancel()
                self.metrics.realtime_cancellations.labels(cause).inc()
        await asyncio.gather(*(job.task for job in jobs if job.task is not None),
                             return_exceptions=True)
        self._jobs.clear()
        self._waiting.clear()
        self._synthesizing = 0
        while not self._plan.empty():
            self._plan.get_nowait()
            self._plan.task_done()
        self._close_encoder()

    # --- the speaker: turns out, in order -------------------------------------------------

    async def _speak(self) -> None:
        while True:
            item = await self._plan.get()
            self._speaking = True
            try:
                if isinstance(item, TurnEnd):
                    await self._end_turn(item.turn)
                else:
                    await self._speak_job(item)
            finally:
                self._speaking = False
                self._plan.task_done()

    async def _speak_job(self, job: Job) -> None:
        opened = False
        try:
            while (chunk := await job.chunks.get()) is not None:
                if isinstance(chunk, TTSError):
                    await self._report(job, chunk)
                    return
                audio = chunk.audio
                if not opened:
                    opened = True
                    audio = await self._open_segment(job, chunk)
                await self._send_words(job, chunk)
                self._audio.samples += chunk.audio.size
                assert self._audio.encoder is not None
                data = self._audio.encoder.encode(audio)
                if data:
                    await self.outbox.put(data)
                    if job.first_of_turn and job.text_done_at:
                        self.metrics.realtime_first_audio.observe(
                            time.perf_counter() - job.text_done_at)
                        job.text_done_at = 0.0
        finally:
            if job in self._jobs:
                self._jobs.remove(job)

    async def _open_segment(self, job: Job, chunk: AudioChunk) -> np.ndarray:
        """The segment's first chunk: the turn's encoder if it is the first, the pause."""
        audio = self._audio
        if audio.encoder is None:
            audio.voice_rate = chunk.sample_rate
            audio.encoder = AudioEncoder(self.config.format, chunk.sample_rate,
                                         self.config.sample_rate, streaming=True)
            audio.samples = 0
            await self.outbox.put({"type": c.RT_AUDIO_START, "turn": job.turn,
                                   "format": self.config.format,
                                   "sample_rate": audio.encoder.output_rate})
        pause_s = job.segment.pause_before_s
        if pause_s is None:
            pause_s = self.sentence_pause_s
        pause = pause_samples(pause_s, chunk.sample_rate) if audio.samples else 0
        audio.samples += pause
        self._segment_start = audio.samples
        if not pause:
            return chunk.audio
        return np.concatenate([np.zeros(pause, np.float32), chunk.audio])

    async def _send_words(self, job: Job, chunk: AudioChunk) -> None:
        if not chunk.words:
            return
        offset, rate = self._segment_start, self._audio.voice_rate
        words = [dataclasses.replace(w, start_sample=w.start_sample + offset,
                                     end_sample=w.end_sample + offset,
                                     start_s=(w.start_sample + offset) / rate,
                                     end_s=(w.end_sample + offset) / rate)
                 for w in chunk.words]
        await self.outbox.put({"type": c.RT_WORDS, "turn": job.turn,
                               "words": [word_json(w) for w in words]})

    async def _end_turn(self, turn: int) -> None:
        audio = self._audio
        seconds = audio.samples / audio.voice_rate if audio.voice_rate else 0.0
        if audio.encoder is not None:
            tail = audio.encoder.finish()
            if tail:
                await self.outbox.put(tail)
        self._audio = _TurnAudio()
        await self.outbox.put({"type": c.RT_FLUSHED, "turn": turn,
                               "audio_seconds": round(seconds, 4)})
        self._spoken_through = turn
        self.metrics.turns.labels("flushed").inc()

    async def _report(self, job: Job, error: TTSError) -> None:
        code = c.RT_INVALID_INPUT if isinstance(error, InvalidRequestError) else (
            c.RT_UPSTREAM_ERROR)
        log.warning("realtime: segment refused (%s): %s", code, error)
        await self.outbox.put(error_message(code, str(error), turn=job.turn,
                                            text=job.segment.text[:200]))

    def _close_encoder(self) -> None:
        if self._audio.encoder is not None:
            with contextlib.suppress(Exception):
                self._audio.encoder.finish()
        self._audio = _TurnAudio()
