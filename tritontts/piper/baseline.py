"""The direct baseline: the original Piper voice graph in-process on ONNX Runtime, chunk by
chunk as Piper synthesizes sentence by sentence. Used by parity tests and benchmarks.

It reads text with the same frontend as the server, so that both do the same work.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort

from tritontts.piper.frontend import TextFrontend, encode_request
from tritontts.piper.stages import join_with_pauses, pause_samples
from tritontts.piper.voice import (
    PIPER_PHONEME_IDS,
    PIPER_PHONEME_LENGTHS,
    PIPER_SCALES,
    PIPER_SPEAKER_ID,
    PiperVoiceConfig,
)


class PiperBaseline:
    def __init__(self, model_path: str | Path, config_path: str | Path,
                 threads: int = 0) -> None:
        self.voice = PiperVoiceConfig.load(config_path)
        self.frontend = TextFrontend(self.voice)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's default, all cores
        # Spinning threads speed a run up, but ONNX Runtime lets them spin on after it, taking
        # the cores from whatever runs next (in benchmarks, the Triton request timed next).
        options.add_session_config_entry("session.force_spinning_stop", "1")
        self.session = ort.InferenceSession(str(model_path), options,
                                            providers=["CPUExecutionProvider"])

    def _chunks(self, ids: np.ndarray, lengths: np.ndarray, scales: np.ndarray,
                speaker: int) -> Iterator[np.ndarray]:
        for row, length in enumerate(lengths):
            feeds = {PIPER_PHONEME_IDS: ids[row : row + 1, :length],
                     PIPER_PHONEME_LENGTHS: lengths[row : row + 1], PIPER_SCALES: scales[row]}
            if self.voice.num_speakers > 1:
                feeds[PIPER_SPEAKER_ID] = np.array([speaker], dtype=np.int64)
            yield self.session.run(None, feeds)[0].reshape(-1)

    def synthesize(self, text: str, speed: float | None = None,
                   noise_scale: float | None = None, noise_w: float | None = None,
                   speaker: int = 0) -> np.ndarray:
        batch, scales = encode_request(self.frontend, text, speed, noise_scale, noise_w)
        pieces = list(self._chunks(batch.ids, batch.lengths, scales, speaker))
        return join_with_pauses(pieces, pause_samples(batch.pauses_s, self.voice.sample_rate))
