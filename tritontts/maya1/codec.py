"""SNAC decoding of generated frames, whole or streamed window by window.

What the references do (Maya Research's maya1-fastapi server and the model card's example):
- whole utterance: decode every frame at once and drop the first 2048 samples ("warm-up",
  one frame: SNAC's start-up transient);
- streaming (the vLLM pipeline): each new frame, decode the last 4 frames (8192 samples) and
  keep 2048 of them. The pipeline means "the middle 2048" (3072:5120), but its decoder call
  drops the warm-up first, so the middle of the 6144 samples left is 4096:6144 of the window.

Which slice of a 4-frame window agrees best with the whole decode was measured on SNAC
24 kHz's architecture (19.8 M parameters, random weights, zero noise, 20 frames): 3072:5120,
the window's true middle (worst sample 0.021 x the RMS of the whole audio, against 0.047 for
4096:6144 and 0.042 for 2048:4096; tests/test_maya1.py measures it again). So:

`StreamWindows` keeps 3072:5120 of every window, starts with the first window's 2048:5120
(the warm-up dropped, as in the whole path) and ends with the last window's 5120:8192. N >= 2
frames give 2048 (N - 1) samples either way, the same samples as the whole decode at both
ends and within a stated bound in the middle (`STREAM_BOUND`). Fewer than 4 frames are
decoded in one piece. One frame alone is kept whole, as the reference does (it drops the
warm-up only from more than 2048 samples).
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
WARMUP_SAMPLES = SAMPLES_PER_FRAME  # dropped from the start of an utterance
KEEP_FROM = 3 * SAMPLES_PER_FRAME // 2  # the slice of a 4-frame window streamed: 3072:5120
KEEP_TO = 5 * SAMPLES_PER_FRAME // 2
# Streamed vs whole audio of the same frames: the largest sample difference, as a fraction of
# the whole audio's RMS. Measured 0.021 (real architecture, random weights); asserted with
# margin for other weights.
STREAM_BOUND = 0.05
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
            return [Window(0, WINDOW_FRAMES, WARMUP_SAMPLES, KEEP_TO)]
        return [Window(i - 3, i + 1, KEEP_FROM, KEEP_TO)]

    def finish(self) -> list[Window]:
        """No more frames: the windows that deliver what is left."""
        n = self.frames
        if n == 0:
            return []
        if n < WINDOW_FRAMES:
            return [Window(0, n, warmup(n), n * SAMPLES_PER_FRAME)]
        return [Window(n - WINDOW_FRAMES, n, KEEP_TO, WINDOW_FRAMES * SAMPLES_PER_FRAME)]


def warmup(frames: int) -> int:
    """Samples dropped from the start of `frames` decoded frames (none from one frame)."""
    return WARMUP_SAMPLES if frames > 1 else 0


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
    """The reference vLLM pipeline's chunks as it runs, for comparison: window [p, p + 4)
    minus its warm-up, the middle 2048 of the rest (4096:6144 of the window); frames 2 ..
    N-2."""
    chunks = []
    for i in range(WINDOW_FRAMES - 1, len(frames)):
        window = decode(*(level[None] for level in frames_to_codes(frames[i - 3 : i + 1])))
        chunks.append(window.reshape(-1)[2 * SAMPLES_PER_FRAME : 3 * SAMPLES_PER_FRAME])
    return chunks


def whole_audio(frames: Sequence[Frame], decode: Decode) -> np.ndarray:
    """All frames decoded at once, the warm-up dropped."""
    if not frames:
        return np.zeros(0, np.float32)
    audio = decode(*(level[None] for level in frames_to_codes(frames))).reshape(-1)
    return audio[warmup(len(frames)):]


async def whole_audio_async(frames: Sequence[Frame], decode: AsyncDecode) -> np.ndarray:
    if not frames:
        return np.zeros(0, np.float32)
    audio = (await decode(*(level[None] for level in frames_to_codes(frames)))).reshape(-1)
    return audio[warmup(len(frames)):]


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


