"""One request's speech: its prompts generated side by side in the shared batch, their frames
decoded as they arrive (streaming windows) or per sentence at the end (whole), in order.

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
from tritontts.maya1.sampling import SamplingSettings


class FrameSource(Protocol):
    """Where frames come from: `generator.BatchedGenerator` or `remote.RemoteGenerator`."""

    def start(self, prompt: Sequence[int], settings: SamplingSettings,
              on_frame: Callable[[tuple[int, ...]], None],
              on_done: Callable[[str | None, BaseException | None], None],
              cancelled: Callable[[], bool] = ...) -> None: ...


class Speaker:
    """`decode` runs in `executor` when one is given (a blocking decoder such as ONNX
    Runtime); without one it must be a coroutine function (a BLS call, awaited)."""

    def __init__(self, generator: FrameSource, decode: Decode | AsyncDecode,
                 executor: Executor | None = None) -> None:
        self.generator = generator
        if executor is None:
            self.decode: AsyncDecode = decode  # type: ignore[assignment]
        else:
            async def in_executor(*codes: np.ndarray) -> np.ndarray:
                return await asyncio.get_running_loop().run_in_executor(
                    executor, decode, *codes)

            self.decode = in_executor

    async def speak(self, prompts: Sequence[Sequence[int]], settings: SamplingSettings,
                    whole: bool = False,
                    cancelled: Callable[[], bool] = lambda: False) -> AsyncIterator[np.ndarray]:
        """Audio pieces of the prompts in order (pieces may be empty)."""
        loop = asyncio.get_running_loop()
        abandoned = False
        queues: list[asyncio.Queue] = [asyncio.Queue() for _ in prompts]

        def stop() -> bool:
            return abandoned or cancelled()

        for index, (prompt, queue) in enumerate(zip(prompts, queues, strict=True)):
            seed = None if settings.seed is None else settings.seed + index
            put = queue.put_nowait
            self.generator.start(
                prompt, dataclasses.replace(settings, seed=seed),
                on_frame=lambda frame, put=put: loop.call_soon_threadsafe(put, frame),
                on_done=lambda reason, error, put=put: loop.call_soon_threadsafe(
                    put, _Done(reason, error)),
                cancelled=stop)
        try:
            for queue in queues:
                async for piece in self._sentence(queue, whole):
                    yield piece
        finally:
            abandoned = True  # a cancelled or failed request stops its other sentences too

    async def _sentence(self, queue: asyncio.Queue, whole: bool) -> AsyncIterator[np.ndarray]:
        frames: list[Frame] = []
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
        if whole:
            yield await whole_audio_async(frames, self.decode)
        elif tail := windows.finish():
            yield await self._decode(frames, tail)

    async def _decode(self, frames: list[Frame], windows: list) -> np.ndarray:
        return await decode_windows_async(frames, windows, self.decode)


@dataclasses.dataclass(frozen=True)
class _Done:
    reason: str | None
    error: BaseException | None
