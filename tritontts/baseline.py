"""The direct baseline: the original Piper voice graph in-process on ONNX Runtime, sentence by
sentence as Piper itself synthesizes. Used by parity tests and benchmarks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort

from tritontts.frontend import TextFrontend
from tritontts.stages import SENTENCE_SILENCE_S, join_with_silence
from tritontts.voice import PiperVoiceConfig, SynthesisOptions


class PiperBaseline:
    def __init__(self, model_path: str | Path, config_path: str | Path,
                 threads: int = 0) -> None:
        self.voice = PiperVoiceConfig.load(config_path)
        self.frontend = TextFrontend(self.voice)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's default, all cores
        self.session = ort.InferenceSession(str(model_path), options,
                                            providers=["CPUExecutionProvider"])

    def sentences(self, text: str, options: SynthesisOptions) -> Iterator[np.ndarray]:
        """Audio of each sentence chunk, as it is synthesized."""
        batch = self.frontend.encode(text)
        scales = np.asarray(options.as_scales(), dtype=np.float32)
        for ids, length in zip(batch.ids, batch.lengths, strict=True):
            audio = self.session.run(None, {
                "input": ids[None, :length], "input_lengths": np.array([length]),
                "scales": scales})[0]
            yield audio.reshape(-1)

    def synthesize(self, text: str, options: SynthesisOptions,
                   silence_s: float = SENTENCE_SILENCE_S) -> np.ndarray:
        silence = int(silence_s * self.voice.sample_rate)
        return join_with_silence(list(self.sentences(text, options)), silence)
