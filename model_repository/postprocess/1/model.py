"""Triton adapter for the postprocess: trim each chunk, join with its pause → AUDIO."""

import numpy as np

from tritontts.stages import join_chunks, pause_samples
from tritontts.triton_model import ModelArgs, required_input, respond_each


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        self.hop_length = int(model.param("hop_length"))
        self.sample_rate = int(model.param("sample_rate"))

    def execute(self, requests):
        return respond_each(requests, self._handle)

    def _handle(self, request):
        pauses = pause_samples(required_input(request, "PAUSES"), self.sample_rate)
        audio = join_chunks(required_input(request, "WAVEFORM"),
                            required_input(request, "FRAME_LENGTHS"), self.hop_length, pauses)
        return {"AUDIO": audio, "SAMPLE_RATE": np.array([self.sample_rate], dtype=np.int32)}
