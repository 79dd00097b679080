"""Triton adapter for the postprocess: trim each chunk, join with pauses → AUDIO."""

import numpy as np

from tritontts.stages import join_chunks
from tritontts.triton_model import ModelArgs, required_input, respond_each


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        self.hop_length = int(model.param("hop_length"))
        self.sample_rate = int(model.param("sample_rate"))
        self.silence = int(float(model.param("sentence_silence_s")) * self.sample_rate)

    def execute(self, requests):
        return respond_each(requests, self._handle)

    def _handle(self, request):
        audio = join_chunks(required_input(request, "WAVEFORM"),
                            required_input(request, "FRAME_LENGTHS"),
                            self.hop_length, self.silence)
        return {"AUDIO": audio, "SAMPLE_RATE": np.array([self.sample_rate], dtype=np.int32)}
