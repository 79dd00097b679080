"""One request's speech: its chunks generated side by side in the shared batch, their frames
decoded as they arrive (streaming windows) or per chunk at the end (whole), in order.

Each chunk's end is reported (`on_chunk`): "end" (the model drew CODE_END), "limit" (it ran
into the token limit: the speech is cut) or "resplit". A whole-mode chunk that ran into the
limit is not delivered cut: its text is cut in two (`PromptBuilder.halves`) and both halves are
generated again, once (a half that hits the limit again is delivered as it is, "limit").
Streamed audio cannot be taken back, so a streamed chunk that hits the limit stays "limit".

Seeds: with a request seed S, chunk k draws with S + k; the halves of a re-generated chunk with
its seed and its seed + 1. Without one every chunk draws its own.

Voice continuity (`PromptLimits.continuity_frames` > 0): chunks are generated one after the
other, each prompted after the chunk before it (`PromptBuilder.continued`).

Plain asyncio: the Triton stream model drives it with the generator on its thread (or the
LM called over BLS: `remote.RemoteGenerator`) and the SNAC decoder on a worker thread (or
awaited over BLS); tests drive it the same way without a server.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from typing import Protocol

import numpy as np

from tritontts.maya1.codec import (
    AsyncDecode,
    Decode,
    Frame,
    StreamWindows,
    decode_windows_async,
    whole_audio_async,
)
from tritontts.maya1.prompt import Chunk, PromptBuilder
from tritontts.maya1.sampling import SamplingSettings


class FrameSource(Protocol):
    """Where frames come from: `generator.BatchedGenerator` or `remote.RemoteGenerator`."""

    def start(self, prompt: Sequence[int], settings: SamplingSettings,
              on_frame: Callable[[tuple[int, ...]], None],
              on_done: Callable[[str | None, BaseException | None], None],
              cancelled: Callable[[], bool] = ...) -> None: ...


MAX_RESPLITS = 1  # how many times a chunk that hit the limit is cut and generated again
OnChunk = Callable[[str], None]


class Speaker:
    """`decode` runs in `executor` when one is given (a blocking decoder such as ONNX
    Runtime); without one it must be a coroutine function (a BLS call, awaited). `builder`
    (the request's prompt builder) enables re-cutting and voice continuity."""

    def __init__(self, generator: FrameSource, decode: Decode | AsyncDecode,
                 executor: Executor | None = None, builder: PromptBuilder | None = None) -> None:
        self.generator = generator
        self.builder = builder
        if executor is None:
            self.decode: AsyncDecode = decode  # type: ignore[assignment]
        else:
            async def in_executor(*codes: np.ndarray) -> np.ndarray:
                return await asyncio.get_running_loop().run_in_executor(
                    executor, decode, *codes)

            self.decode = in_executor

    async def speak(self, prompts: Sequence[Chunk | Sequence[int]], settings: SamplingSettings,
                    whole: bool = False, cancelled: Callable[[], bool] = lambda: False,
                    on_chunk: OnChunk = lambda _: None) -> AsyncIterator[np.ndarray]:
        """Audio pieces of the chunks in order (pieces may be empty)."""
        loop = asyncio.get_running_loop()
        abandoned = False
        chunks = [p if isinstance(p, Chunk) else Chunk(tuple(p)) for p in prompts]

        def stop() -> bool:
            return abandoned or cancelled()

        def start(chunk: Chunk, seed: int | None) -> asyncio.Queue:
            queue: asyncio.Queue = asyncio.Queue()
            put = queue.put_nowait
            self.generator.start(
                list(chunk.ids), dataclasses.replace(settings, seed=seed),
                on_frame=lambda frame: loop.call_soon_threadsafe(put, frame),
                on_done=lambda reason, error: loop.call_soon_threadsafe(
                    put, _Done(reason, error)),
                cancelled=stop)
            return queue

        def seed(k: int) -> int | None:
            return None if settings.seed is None else settings.seed + k

        run = _Run(self, start, whole, on_chunk)
        try:
            if self.builder is not None and self.builder.limits.continuity_frames > 0:
                previous: tuple[Chunk, list[int]] | None = None
                for k, chunk in enumerate(chunks):
                    prompt = chunk if previous is None else self.builder.continued(
                        chunk, *previous)
                    outcome = _Outcome()
                    async for piece in run.spoken(prompt, seed(k), outcome):
                        yield piece
                    previous = (chunk, [t for frame in outcome.frames for t in frame])
            else:  # every chunk at once: they share the LM's batch
                queues = [start(chunk, seed(k)) for k, chunk in enumerate(chunks)]
                for k, (chunk, queue) in enumerate(zip(chunks, queues, strict=True)):
                    async for piece in run.spoken(chunk, seed(k), _Outcome(), queue):
                        yield piece
        finally:
            abandoned = True  # a cancelled or failed request stops its other chunks too

    async def _sentence(self, queue: asyncio.Queue, whole: bool,
                        outcome: _Outcome) -> AsyncIterator[np.ndarray]:
        frames = outcome.frames
        windows = StreamWindows()
        done: _Done | None = None
        while done is None:
            items = [await queue.get()]
            while not queue.empty():  # frames that came while we decoded share one call
                items.append(queue.get_nowait())
            ready = []
            for item in items:
                if isinstance(item, _Done):
                    done = item
                else:
                    frames.append(item)
                    ready += [] if whole else windows.push()
            if ready:
                yield await self._decode(list(frames), ready)
        if done.error is not None:
            raise done.error
        outcome.reason = done.reason
        if whole:
            yield await whole_audio_async(frames, self.decode)
        elif tail := windows.finish():
            yield await self._decode(frames, tail)

    async def _decode(self, frames: list[Frame], windows: list) -> np.ndarray:
        return await decode_windows_async(frames, windows, self.decode)


@dataclasses.dataclass
class _Run:
    """One request's way of speaking a chunk (and its halves, when it is cut again)."""

    speaker: Speaker
    start: Callable[[Chunk, int | None], asyncio.Queue]
    whole: bool
    on_chunk: OnChunk

    async def spoken(self, chunk: Chunk, seed: int | None, outcome: _Outcome,
                     queue: asyncio.Queue | None = None, depth: int = 0
                     ) -> AsyncIterator[np.ndarray]:
        queue = queue if queue is not None else self.start(chunk, seed)
        pieces = self.speaker._sentence(queue, self.whole, outcome)
        if not self.whole:
            async for piece in pieces:
                yield piece
            self._report(outcome.reason)
            return
        held = [piece async for piece in pieces]  # whole: nothing is sent before the end
        builder = self.speaker.builder
        halves = (builder.halves(chunk) if outcome.reason == "limit" and depth < MAX_RESPLITS
                  and builder is not None else None)
        if not halves:
            self._report(outcome.reason)
            for piece in held:
                yield piece
            return
        self._report("resplit")
        outcome.frames.clear()
        for j, half in enumerate(halves):
            part = _Outcome()
            async for piece in self.spoken(half, None if seed is None else seed + j, part,
                                           depth=depth + 1):
                yield piece
            outcome.frames += part.frames

    def _report(self, reason: str | None) -> None:
        if reason is not None:
            self.on_chunk(reason)


@dataclasses.dataclass
class _Outcome:
    reason: str | None = None
    frames: list[Frame] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _Done:
    reason: str | None
    error: BaseException | None
