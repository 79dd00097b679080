"""SNAC decoding of generated frames, whole or streamed window by window.

The reference streaming (Maya1's and Orpheus' scripts): each new frame i >= 3, decode the
last 4 frames and keep samples 2048:4096 of that window, i.e. the audio of frame i - 2 with
one frame of context before it and two after. On its own that loses frame 0 and the last two
frames. `StreamWindows` keeps the reference's windows, so the middle of the audio is the same
sample for sample, and adds the two ends: the first window [0, 4) gives frames 0 and 1 at
once (first audio as soon as 4 frames exist), and at the end the last window [N-4, N) gives
frames N-2 and N-1. Fewer than 4 frames in all are decoded in one piece. N frames always give
exactly 2048 N samples.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tritontts.maya1.tokens import SAMPLES_PER_FRAME, unpack_frames
from tritontts_client.contract import MAYA1_SNAC_INPUTS, MAYA1_SNAC_OUTPUT

WINDOW_FRAMES = 4
Frame = tuple[int, ...]  # the 7 ids of one frame
# codes L1 [B, N], L2 [B, 2N], L3 [B, 4N] -> audio [B, 2048 N]
Decode = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
AsyncDecode = Callable[[np.ndarray, np.ndarray, np.ndarray], Awaitable[np.ndarray]]


@dataclass(frozen=True)
class Window:
    start: int  # first frame decoded
    end: int  # one past the last
    keep_from: int  # samples of the decoded window that are delivered
    keep_to: int


def frames_to_codes(frames: Sequence[Frame]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return unpack_frames([token for frame in frames for token in frame])


class StreamWindows:
    """Which windows to decode as frames arrive, and at the end."""

    def __init__(self) -> None:
        self.frames = 0

    def push(self) -> list[Window]:
        """A frame arrived: the windows that can be decoded now."""
        self.frames += 1
        i = self.frames - 1
        if i + 1 < WINDOW_FRAMES:
            return []
        if i + 1 == WINDOW_FRAMES:
            return [Window(0, WINDOW_FRAMES, 0, 2 * SAMPLES_PER_FRAME)]
        return [Window(i - 3, i + 1, SAMPLES_PER_FRAME, 2 * SAMPLES_PER_FRAME)]

    def finish(self) -> list[Window]:
        """No more frames: the windows that deliver what is left."""
        n = self.frames
        if n == 0:
            return []
        if n < WINDOW_FRAMES:
            return [Window(0, n, 0, n * SAMPLES_PER_FRAME)]
        return [Window(n - WINDOW_FRAMES, n, 2 * SAMPLES_PER_FRAME, 4 * SAMPLES_PER_FRAME)]


def _window_batches(frames: Sequence[Frame], windows: Sequence[Window]
                    ) -> list[tuple[list[int], tuple[np.ndarray, ...]]]:
    """Windows of one size share a decoder call: (their indices, the batched codes)."""
    by_size: dict[int, list[int]] = {}
    for index, window in enumerate(windows):
        by_size.setdefault(window.end - window.start, []).append(index)
    batches = []
    for indices in by_size.values():
        codes = [frames_to_codes(frames[windows[i].start : windows[i].end]) for i in indices]
        batches.append((indices, tuple(np.stack([c[level] for c in codes])
                                       for level in range(3))))
    return batches


def _delivered(windows: Sequence[Window], batches: list[tuple[list[int], np.ndarray]]
               ) -> np.ndarray:
    audio: dict[int, np.ndarray] = {}
    for indices, batch in batches:
        for row, i in enumerate(indices):
            audio[i] = batch[row].reshape(-1)[windows[i].keep_from : windows[i].keep_to]
    pieces = [audio[index] for index in range(len(windows))]
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


def decode_windows(frames: Sequence[Frame], windows: Sequence[Window],
                   decode: Decode) -> np.ndarray:
    """The delivered samples of several windows, joined; windows of one size share a call."""
    return _delivered(windows, [(indices, decode(*codes))
                                for indices, codes in _window_batches(frames, windows)])


async def decode_windows_async(frames: Sequence[Frame], windows: Sequence[Window],
                               decode: AsyncDecode) -> np.ndarray:
    """`decode_windows` with a decoder that is awaited (a BLS call to the SNAC model)."""
    batches = _window_batches(frames, windows)
    decoded = await asyncio.gather(*(decode(*codes) for _, codes in batches))
    return _delivered(windows, [(indices, audio) for (indices, _), audio
                                in zip(batches, decoded, strict=True)])


def stream_audio(frames: Sequence[Frame], decode: Decode) -> list[np.ndarray]:
    """All chunks of a finished frame sequence, as the streaming model sends them."""
    windows = StreamWindows()
    chunks = []
    for count in range(1, len(frames) + 1):
        for window in windows.push():
            chunks.append(decode_windows(frames[:count], [window], decode))
    for window in windows.finish():
        chunks.append(decode_windows(frames, [window], decode))
    return chunks


def reference_stream(frames: Sequence[Frame], decode: Decode) -> list[np.ndarray]:
    """The reference scripts' sliding window, for comparison: frames 1 .. N-3 only."""
    chunks = []
    for i in range(WINDOW_FRAMES - 1, len(frames)):
        window = decode(*(level[None] for level in frames_to_codes(frames[i - 3 : i + 1])))
        chunks.append(window.reshape(-1)[SAMPLES_PER_FRAME : 2 * SAMPLES_PER_FRAME])
    return chunks


def whole_audio(frames: Sequence[Frame], decode: Decode) -> np.ndarray:
    if not frames:
        return np.zeros(0, np.float32)
    return decode(*(level[None] for level in frames_to_codes(frames))).reshape(-1)


async def whole_audio_async(frames: Sequence[Frame], decode: AsyncDecode) -> np.ndarray:
    if not frames:
        return np.zeros(0, np.float32)
    return (await decode(*(level[None] for level in frames_to_codes(frames)))).reshape(-1)


class OnnxSnacDecoder:
    """The exported SNAC decoder on ONNX Runtime (CPU)."""

    def __init__(self, graph: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(graph), options,
                                            providers=["CPUExecutionProvider"])

    def __call__(self, codes_0: np.ndarray, codes_1: np.ndarray,
                 codes_2: np.ndarray) -> np.ndarray:
        codes = (codes_0, codes_1, codes_2)
        (audio,) = self.session.run([MAYA1_SNAC_OUTPUT], {
            name: level.astype(np.int64)
            for name, level in zip(MAYA1_SNAC_INPUTS, codes, strict=True)})
        return np.clip(audio.reshape(audio.shape[0], -1), -1.0, 1.0).astype(np.float32)


